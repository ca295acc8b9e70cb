import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './support/server.ts';
import { registerUser, type TestUser } from './support/services.ts';
import { TestSocket } from './support/ws-client.ts';

let server: TestServer;
let user: TestUser;

before(async () => {
  server = await startTestServer({ ATLAS_HEARTBEAT_MS: '300' });
  user = await registerUser(server.services);
});

after(async () => {
  await server.dispose();
});

describe('heartbeat', () => {
  it('keeps a connection that answers pings and drops one that stopped answering', async () => {
    const healthy = await TestSocket.connect(server.wsUrl(user));
    const silent = await TestSocket.connect(server.wsUrl(user));
    // A client that vanished without closing: it stops reading, so it never answers a ping.
    const raw = (silent.ws as unknown as { _socket: { pause(): void } })._socket;
    raw.pause();
    const started = Date.now();
    for (;;) {
      const ids = [...server.realtime.hub.connectionsOf(user.userId)];
      if (ids.length === 1) {
        break;
      }
      assert.ok(Date.now() - started < 5000, 'the silent connection was not dropped');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(Date.now() - started >= 300, 'not dropped before a ping went unanswered');
    healthy.send({ type: 'ping' });
    await healthy.nextNew('pong');
    assert.equal(healthy.closed, undefined);
    healthy.close();
  });
});
