import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
} from 'jose';

/** The one signing algorithm ATLAS issues and accepts. */
export const SIGNING_ALGORITHM = 'ES256';

export interface SigningKeys {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwks: JSONWebKeySet;
}

async function fromPrivateJwk(jwk: JWK): Promise<SigningKeys> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new TypeError('the signing key must be a private P-256 EC JWK');
  }
  const kid = jwk.kid ?? 'atlas-1';
  const { d: _private, ...publicJwk } = jwk;
  const privateKey = (await importJWK(jwk, SIGNING_ALGORITHM)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, SIGNING_ALGORITHM)) as CryptoKey;
  return {
    kid,
    privateKey,
    publicKey,
    jwks: { keys: [{ ...publicJwk, kid, alg: SIGNING_ALGORITHM, use: 'sig' }] },
  };
}

/** Parses a private JWK given as JSON text (for instance from a secret store). */
export async function signingKeysFromJson(json: string): Promise<SigningKeys> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(json) as JWK;
  } catch {
    throw new TypeError('the signing key is not valid JSON');
  }
  return fromPrivateJwk(jwk);
}

/**
 * Loads the signing key from `dataDir/signing-key.json`, generating it on first start. The file
 * is written with mode 0600; every process sharing the data directory signs with the same key.
 */
export async function loadOrCreateSigningKeys(dataDir: string): Promise<SigningKeys> {
  const path = join(dataDir, 'signing-key.json');
  try {
    return await signingKeysFromJson(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
  }
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `atlas-${Date.now().toString(36)}` };
  await mkdir(dataDir, { recursive: true });
  try {
    await writeFile(path, JSON.stringify(jwk), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process created it first: use theirs so every role signs with one key.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw error;
    }
  }
  return signingKeysFromJson(await readFile(path, 'utf8'));
}
