import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Peer } from 'crossws';
import { releaseUpgradeRequest } from '../realtime/peer-memory.ts';

test('an open peer lets go of its upgrade request but keeps its context and socket', () => {
  const socket = { remoteAddress: '127.0.0.1' };
  const context = { userId: 'u1', sessionId: 's1' };
  const nodeReq = {
    _request: { headers: new Headers({ origin: 'http://localhost' }) },
    _context: context,
    rawHeaders: ['Origin', 'http://localhost'],
    headers: { origin: 'http://localhost' } as Record<string, unknown>,
    socket,
  };
  const internals = { request: { url: 'http://localhost/ws' }, nodeReq, ws: {} };
  const peer = { _internal: internals } as unknown as Peer;
  releaseUpgradeRequest(peer);
  assert.equal(internals.request, undefined);
  assert.equal(nodeReq._request, undefined);
  assert.deepEqual(nodeReq.rawHeaders, []);
  assert.deepEqual(nodeReq.headers, {});
  assert.equal(nodeReq._context, context);
  assert.equal(nodeReq.socket, socket);
});

test('a peer of another adapter is left alone', () => {
  assert.doesNotThrow(() => releaseUpgradeRequest({} as Peer));
});
