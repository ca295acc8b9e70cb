/**
 * Values that never appear in code. Set them once per stage with `npx sst secret set NAME VALUE
 * --stage STAGE` (docs/deploy.md shows how to make the signing key).
 */
export const databaseUrl = new sst.Secret('DatabaseUrl');

/** The private P-256 JWK (JSON) that signs access tokens; every function and node shares it. */
export const signingKey = new sst.Secret('SigningKey');

/**
 * Comma-separated Origins allowed to open WebSockets (the web client's origin). Not secret, but
 * per deployment; empty allows same-host pages and clients that send no Origin.
 */
export const allowedOrigins = new sst.Secret('AllowedOrigins', '');
