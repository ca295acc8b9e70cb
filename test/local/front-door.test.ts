import assert from 'node:assert/strict';
import { get } from 'node:https';
import { after, describe, it } from 'node:test';
import type { AtlasClient } from '../../shared/sdk/index.ts';
import {
  authed,
  friendsWithDm,
  fullHistory,
  historyShape,
  registerUser,
  startClient,
  type FrontUser,
} from './support/front-door.ts';
import { loadTopology, logMark, logSince, processesOf, until } from './support/topology.ts';

const topology = loadTopology();

describe('the front door (HAProxy -> NGINX -> functions, realtime)', () => {
  const clients: AtlasClient[] = [];
  const users: FrontUser[] = [];

  after(() => {
    clients.forEach((client) => client.stop());
    users.forEach((user) => user.door.close());
  });

  it('serves HTTPS that verifies against the local CA only', async () => {
    const refused = await new Promise<string>((resolve) => {
      // Node's own trust store, without the local CA: the handshake must fail.
      const req = get(`${topology.frontUrl}/gateway-health`, () => resolve('accepted'));
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    assert.match(refused, /UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED|UNABLE_TO_VERIFY/);

    const user = await registerUser(topology, 'tls');
    users.push(user);
    const page = await user.door.fetch(`${topology.frontUrl}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /<html/i);
    const script = await user.door.fetch(`${topology.frontUrl}/app.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
  });

  it('routes every function to all of its instances, with one request id end to end', async () => {
    const user = await registerUser(topology, 'routing');
    users.push(user);
    const http = authed(topology, user);
    const instances = [
      ...processesOf(topology, 'auth'),
      ...processesOf(topology, 'users'),
      ...processesOf(topology, 'chat'),
    ];
    assert.ok(processesOf(topology, 'users').length >= 2, 'at least two users instances');
    const marks = new Map<string, number>();
    for (const name of instances) {
      marks.set(name, await logMark(topology, name));
    }
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      await http.me();
      await http.rooms();
      const jwks = await user.door.fetch(`${topology.frontUrl}/api/auth/jwks`);
      assert.equal(jwks.status, 200);
      ids.push(jwks.headers.get('x-request-id') ?? '');
    }
    const logs = new Map<string, string>();
    for (const name of instances) {
      logs.set(name, await logSince(topology, name, marks.get(name) ?? 0));
      assert.match(logs.get(name)!, /"msg":"request"/, `${name} served none of the requests`);
    }
    const joined = [...logs.values()].join('\n');
    assert.match(ids[0]!, /^[\w-]{8,64}$/);
    assert.ok(joined.includes(`"request_id":"${ids[0]}"`), 'the request id reaches the service');

    const missing = await user.door.fetch(`${topology.frontUrl}/api/me`);
    assert.equal(missing.status, 401);
    assert.equal(
      ((await missing.json()) as { error: { code: string } }).error.code,
      'unauthorized',
    );
  });

  it('lets two users on different realtime nodes chat, with presence and typing', async () => {
    const alice = await registerUser(topology, 'alice');
    const bob = await registerUser(topology, 'bob');
    users.push(alice, bob);
    const dm = await friendsWithDm(topology, alice, bob);

    const aliceClient = await startClient(topology, alice);
    clients.push(aliceClient);
    let bobClient = await startClient(topology, bob);
    clients.push(bobClient);
    // Least connections puts the second socket elsewhere; reconnect a few times if not.
    for (let tries = 0; bob.door.nodes.at(-1) === alice.door.nodes.at(-1) && tries < 5; tries++) {
      bobClient.stop();
      bobClient = await startClient(topology, bob);
      clients.push(bobClient);
    }
    assert.notEqual(bob.door.nodes.at(-1), alice.door.nodes.at(-1), 'users on different nodes');

    await until('bob sees alice online', () => bobClient.presenceOf(alice.session.user.id)?.online);
    const typing = new Promise<string>((resolve) =>
      bobClient.on('typing', (event) => resolve(event.userId)),
    );
    aliceClient.typing(dm.id);
    assert.equal(await withTimeout(typing, 5_000, 'typing'), alice.session.user.id);

    await aliceClient.openRoom(dm.id);
    await bobClient.openRoom(dm.id);
    for (let i = 0; i < 5; i++) {
      aliceClient.send(dm.id, `from alice ${i}`);
      bobClient.send(dm.id, `from bob ${i}`);
    }
    const confirmed = (client: AtlasClient) =>
      client
        .timeline(dm.id)
        .entries()
        .filter((entry) => entry.seq !== null)
        .map((entry) => `${entry.seq}:${entry.clientMsgId}`);
    await until('both hold all ten messages', () =>
      [aliceClient, bobClient].every((client) => confirmed(client).length === 10),
    );
    assert.deepEqual(confirmed(bobClient), confirmed(aliceClient));
    const history = await fullHistory(authed(topology, alice), dm.id);
    assert.deepEqual(historyShape(history), { count: 10, gapless: true, uniqueClientMsgIds: true });

    bobClient.stop();
    await until(
      'alice sees bob offline',
      () => aliceClient.presenceOf(bob.session.user.id)?.online === false,
    );
  });
});

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms),
    ),
  ]);
}
