import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { after, describe, it } from 'node:test';
import { randomLoopback } from './support/front-door.ts';
import { loadTopology, processesOf, stack, until } from './support/topology.ts';

const topology = loadTopology();
const ca = readFileSync(topology.caFile);

interface Answer {
  status: number;
  contentType: string;
  requestId: string;
  retryAfter: string | undefined;
  text: string;
}

interface Attempt {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

/**
 * One request through the front door on a connection of its own, from an address of its own.
 * The answer counts even when the gateway refuses a body it never reads to the end (the socket
 * may be reset after the answer).
 */
function send(path: string, attempt: Attempt = {}): Promise<Answer> {
  const headers = { ...attempt.headers };
  if (attempt.body) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(attempt.body.length);
  }
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      `${topology.frontUrl}${path}`,
      {
        method: attempt.method ?? 'GET',
        headers,
        ca,
        servername: 'localhost',
        agent: false,
        localAddress: randomLoopback(),
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            requestId: String(res.headers['x-request-id'] ?? ''),
            retryAfter: res.headers['retry-after'],
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', (error) => {
      if (!answered) {
        reject(error);
      }
    });
    req.end(attempt.body);
  });
}

function errorCode(answer: Answer): string {
  try {
    return (JSON.parse(answer.text) as { error?: { code?: string } }).error?.code ?? 'no code';
  } catch {
    return `not json: ${answer.text.slice(0, 60)}`;
  }
}

/** Status and code, then the headers every ATLAS error carries. */
function assertError(answer: Answer, status: number, code: string): void {
  assert.deepEqual({ status: answer.status, code: errorCode(answer) }, { status, code });
  assert.match(answer.contentType, /^application\/json/);
  assert.match(answer.requestId, /^[\w-]{8,64}$/);
}

describe('errors the front door makes itself are ATLAS error bodies', () => {
  it('a 10 MB body: 413 payload_too_large', async () => {
    const body = Buffer.alloc(10 * 1024 * 1024, 'a');
    assertError(await send('/api/auth/login', { method: 'POST', body }), 413, 'payload_too_large');
    assertError(
      await send('/api/rooms', { method: 'POST', body, headers: { authorization: 'Bearer x' } }),
      413,
      'payload_too_large',
    );
  });

  it('a 20 KB or 100 KB header, or a 30 KB request line: 431 headers_too_large', async () => {
    for (const size of [20 * 1024, 100 * 1024]) {
      const answer = await send('/api/me', { headers: { 'x-padding': 'a'.repeat(size) } });
      assertError(answer, 431, 'headers_too_large');
    }
    assertError(await send(`/api/me?q=${'a'.repeat(30 * 1024)}`), 431, 'headers_too_large');
  });

  it('TRACE, and methods the web client does not serve: 405 method_not_allowed', async () => {
    assertError(await send('/api/me', { method: 'TRACE' }), 405, 'method_not_allowed');
    assertError(
      await send('/', { method: 'POST', body: Buffer.from('{}') }),
      405,
      'method_not_allowed',
    );
  });

  it('a malformed request that reaches a gateway: 400 bad_request', async () => {
    assertError(await send('/api/me', { headers: { host: 'a b' } }), 400, 'bad_request');
  });

  it('unknown API routes stay JSON while other paths are the web client', async () => {
    assertError(await send('/api/no-such-route'), 404, 'not_found');
    const page = await send('/rooms/anything');
    assert.equal(page.status, 200);
    assert.match(page.contentType, /^text\/html/);
  });
});

describe('/healthz at the front door', () => {
  const gateways = processesOf(topology, 'gateway');
  after(async () => {
    for (const name of gateways) {
      await stack('start', name);
    }
  });

  it('answers JSON from a gateway, and HAProxy says unavailable (JSON) when none is up', async () => {
    const healthy = await send('/healthz');
    assert.equal(healthy.status, 200);
    assert.match(healthy.contentType, /^application\/json/);
    assert.equal((JSON.parse(healthy.text) as { status: string }).status, 'ok');

    for (const name of gateways) {
      await stack('stop', name);
    }
    const down = await until('HAProxy refuses without gateways', async () => {
      const answer = await send('/healthz');
      return answer.status === 503 ? answer : undefined;
    });
    assertError(down, 503, 'unavailable');
    assert.equal(down.retryAfter, '1');

    for (const name of gateways) {
      await stack('start', name);
    }
    await until(
      'a gateway is back behind HAProxy',
      async () => (await send('/healthz')).status === 200,
    );
  });
});
