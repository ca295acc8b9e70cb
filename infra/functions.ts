import { platformEnvironment } from './data.ts';
import { vpc } from './network.ts';
import { stageSizes } from './stages.ts';
import { messageEnvironment } from './streaming.ts';

const sizes = stageSizes($app.stage);
const domain = process.env.ATLAS_DOMAIN;

/**
 * The auth, users and chat apps on Lambda (functions/<name>/lambda.ts), inside the VPC so they
 * reach Redis, Kafka and the store; PostgreSQL is Neon. The native argon2 addon and PGlite (the
 * unused embedded fallback, which loads WebAssembly files) are installed, not bundled.
 */
const shared = {
  runtime: 'nodejs20.x',
  architecture: 'arm64',
  memory: sizes.functionMemory,
  timeout: '20 seconds',
  vpc,
  nodejs: { install: ['@node-rs/argon2', '@electric-sql/pglite'] },
  logging: { retention: '1 month' },
} satisfies Partial<sst.aws.FunctionArgs>;

export const auth = new sst.aws.Function('Auth', {
  ...shared,
  handler: 'functions/auth/lambda.handler',
  environment: platformEnvironment,
});

export const users = new sst.aws.Function('Users', {
  ...shared,
  handler: 'functions/users/lambda.handler',
  environment: platformEnvironment,
});

/**
 * Chat appends to Kafka and reads Cassandra, so it runs on Node and Lambda only. Any number of
 * instances may send into one room at once (each batch is numbered under the room's row lock in
 * PostgreSQL, docs/sequencing.md); the reserved concurrency bounds the connections they open.
 */
export const chat = new sst.aws.Function('Chat', {
  ...shared,
  handler: 'functions/chat/lambda.handler',
  environment: { ...platformEnvironment, ...messageEnvironment },
  concurrency: { reserved: sizes.chatConcurrency },
});

/** The HTTP API: each route prefix to its function (API Gateway payload format 2.0). */
export const api = new sst.aws.ApiGatewayV2('Api', {
  ...(domain ? { domain: `api.${domain}` } : {}),
  accessLog: { retention: '1 month' },
});

const routes: ReadonlyArray<[string, typeof auth]> = [
  ['ANY /api/auth/{proxy+}', auth],
  ['ANY /api/me', users],
  ['ANY /api/me/{proxy+}', users],
  ['ANY /api/users', users],
  ['ANY /api/users/{proxy+}', users],
  ['ANY /api/rooms', chat],
  ['ANY /api/rooms/{proxy+}', chat],
  ['ANY /api/dms', chat],
];
for (const [route, fn] of routes) {
  api.route(route, fn.arn);
}
