/**
 * The AWS Lambda entries (functions/<name>/lambda.ts) invoked with API Gateway HTTP API events
 * (payload format 2.0), the way Lambda calls them, against the real local PostgreSQL and Redis,
 * and for chat Kafka and Cassandra too: register, log in, an authenticated users call, a chat
 * round trip, and bad requests answered with the Node server's codes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { verify as verifyNative } from '@node-rs/argon2';
import type { APIGatewayProxyEventV2, Context as LambdaContext } from 'aws-lambda';
import { exportJWK, generateKeyPair } from 'jose';
import type { LambdaEntry } from '../../functions/runtime/lambda.ts';
import type { Reply } from '../support/api.ts';
import {
  dropKeyspaces,
  CASSANDRA_CONTACT,
  CASSANDRA_DC,
  runKeyspace,
} from './support/cassandra.ts';
import { DATABASE_URL, REDIS_URL } from './support/env.ts';
import {
  assertBadRequestsAnsweredLikeNode,
  documentationAddress,
  jsonRequest,
  storedUser,
  type FunctionRequest,
} from './support/function-entries.ts';
import { KAFKA_BROKERS, KAFKA_RUN, topicJanitor } from './support/kafka.ts';
import { createTestSchema, type TestSchema } from './support/postgres.ts';

type FunctionName = 'auth' | 'users' | 'chat';

const SOURCE_IP = documentationAddress();
const keyspace = runKeyspace('lambda');
const topics = topicJanitor();
const topic = topics.track(`${KAFKA_RUN}.lambda`);
let schema: TestSchema;
const entries = new Map<FunctionName, LambdaEntry>();

before(async () => {
  schema = await createTestSchema(DATABASE_URL);
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  // What the stack sets on every function (infra/functions.ts), read at the first invocation.
  Object.assign(process.env, {
    DATABASE_URL: schema.url,
    REDIS_URL,
    ATLAS_SIGNING_KEY: JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'lambda-test' }),
    LOG_LEVEL: 'silent',
  });
  entries.set('auth', (await import('../../functions/auth/lambda.ts')).entry);
  entries.set('users', (await import('../../functions/users/lambda.ts')).entry);
  entries.set('chat', (await import('../../functions/chat/lambda.ts')).entry);
});

after(async () => {
  await Promise.all([...entries.values()].map((entry) => entry.close()));
  await schema.drop();
  await topics.sweep();
  await dropKeyspaces([keyspace]);
});

/** An HTTP API (payload 2.0) event as API Gateway sends it to the function. */
function httpApiEvent(request: FunctionRequest, base64 = false): APIGatewayProxyEventV2 {
  const now = new Date();
  const headers: Record<string, string> = { host: 'api.atlas.test', 'user-agent': 'atlas-test' };
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers[name.toLowerCase()] = value;
  }
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: '$default',
    rawPath: request.path,
    rawQueryString: request.query ?? '',
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'atlastest',
      domainName: 'api.atlas.test',
      domainPrefix: 'api',
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: SOURCE_IP,
        userAgent: 'atlas-test',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: base64,
  };
  if (request.query) {
    event.queryStringParameters = Object.fromEntries(new URLSearchParams(request.query));
  }
  if (request.body !== undefined) {
    event.body = base64 ? Buffer.from(request.body).toString('base64') : request.body;
  }
  return event;
}

const lambdaContext = {
  functionName: 'atlas-test',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as LambdaContext;

async function invoke(
  name: FunctionName,
  request: FunctionRequest,
  base64 = false,
): Promise<Reply> {
  const entry = entries.get(name);
  assert.ok(entry, `no entry for ${name}`);
  const result = await entry.handler(httpApiEvent(request, base64), lambdaContext);
  const text = result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString() : result.body;
  const headers = new Headers();
  for (const [header, value] of Object.entries(result.headers ?? {})) {
    headers.set(header, String(value));
  }
  return { status: result.statusCode, headers, body: JSON.parse(text) as Record<string, unknown> };
}

function get(path: string, token: string, query?: string): FunctionRequest {
  return {
    method: 'GET',
    path,
    headers: { authorization: `Bearer ${token}` },
    ...(query ? { query } : {}),
  };
}

interface Account {
  id: string;
  accessToken: string;
}

async function register(username: string, base64 = false): Promise<Account> {
  const reply = await invoke(
    'auth',
    jsonRequest('POST', '/api/auth/register', { username, password: 'a long lambda password' }),
    base64,
  );
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  const user = reply.body.user as { id: string; username: string };
  assert.equal(user.username, username);
  return { id: user.id, accessToken: reply.body.accessToken as string };
}

describe('Lambda entries with API Gateway v2 events', { timeout: 120_000 }, () => {
  const suffix = randomUUID().slice(0, 8);
  let alice: Account;
  let bob: Account;

  const logIn = (password: string) =>
    invoke(
      'auth',
      jsonRequest('POST', '/api/auth/login', { username: `alice_${suffix}`, password }),
    );

  it('auth: registers (plain and base64 bodies), stores an argon2id hash, and logs in', async () => {
    alice = await register(`alice_${suffix}`);
    bob = await register(`bob_${suffix}`, true);

    const stored = await storedUser(schema.url, alice.id);
    assert.equal(await verifyNative(stored.password_hash, 'a long lambda password'), true);

    const login = await logIn('a long lambda password');
    assert.equal(login.status, 200);
    assert.match(login.headers.get('x-request-id') ?? '', /^[\w-]+$/);
    const wrong = await logIn('not the password');
    assert.equal(wrong.status, 401);
    assert.equal((wrong.body.error as { code: string }).code, 'invalid_credentials');
  });

  it('users: reads and edits the profile, searches, and makes friends with a token', async () => {
    const me = await invoke('users', get('/api/me', alice.accessToken));
    assert.equal(me.status, 200);
    assert.equal((me.body.user as { id: string }).id, alice.id);

    const patched = await invoke(
      'users',
      jsonRequest('PATCH', '/api/me', { displayName: 'Alice on Lambda' }, alice.accessToken),
    );
    assert.equal(patched.status, 200);
    assert.equal((patched.body.user as { displayName: string }).displayName, 'Alice on Lambda');

    const found = await invoke(
      'users',
      get('/api/users', alice.accessToken, `prefix=bob_${suffix}`),
    );
    assert.equal(found.status, 200);
    assert.deepEqual(
      (found.body.users as Array<{ id: string }>).map((user) => user.id),
      [bob.id],
    );

    const asked = await invoke(
      'users',
      jsonRequest('POST', '/api/me/friend-requests', { userId: bob.id }, alice.accessToken),
    );
    assert.equal(asked.status, 201);
    const accepted = await invoke(
      'users',
      jsonRequest('POST', `/api/me/friend-requests/${alice.id}/accept`, {}, bob.accessToken),
    );
    assert.equal(accepted.status, 200);
  });

  it('chat: opens a DM, sends through Kafka into Cassandra, and reads the history back', async () => {
    // Only the chat function is given the message log and store (infra/functions.ts); auth and
    // users started above without them.
    Object.assign(process.env, {
      KAFKA_BROKERS: KAFKA_BROKERS.join(','),
      KAFKA_TOPIC: topic,
      KAFKA_PARTITIONS: '2',
      CASSANDRA_CONTACT_POINTS: CASSANDRA_CONTACT,
      CASSANDRA_DATACENTER: CASSANDRA_DC,
      CASSANDRA_KEYSPACE: keyspace,
    });
    const dm = await invoke(
      'chat',
      jsonRequest('POST', '/api/dms', { userId: bob.id }, alice.accessToken),
    );
    assert.equal(dm.status, 200, JSON.stringify(dm.body));
    const roomId = (dm.body.room as { id: string }).id;

    const send = jsonRequest(
      'POST',
      `/api/rooms/${roomId}/messages`,
      { clientMsgId: 'lambda-1', body: 'hi from Lambda' },
      alice.accessToken,
    );
    const sent = await invoke('chat', send);
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.equal((sent.body.message as { seq: number }).seq, 1);
    const again = await invoke('chat', send);
    assert.equal(again.status, 200, 'a retried send is answered as a duplicate');

    const history = await invoke('chat', get(`/api/rooms/${roomId}/messages`, bob.accessToken));
    assert.equal(history.status, 200);
    const messages = history.body.messages as Array<{
      seq: number;
      body: string;
      senderId: string;
    }>;
    assert.deepEqual(
      messages.map(({ seq, body, senderId }) => ({ seq, body, senderId })),
      [{ seq: 1, body: 'hi from Lambda', senderId: alice.id }],
    );
  });

  it('answers bad requests with the codes the Node server gives', async () => {
    await assertBadRequestsAnsweredLikeNode((name, request) => invoke(name, request), schema.url);
    const unknown = await invoke('chat', get('/api/nowhere', alice.accessToken));
    assert.equal(unknown.status, 404);
    assert.equal((unknown.body.error as { code: string }).code, 'not_found');
  });
});
