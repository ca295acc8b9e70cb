import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { AtlasClient } from '../../shared/sdk/index.ts';
import {
  authed,
  friendsWithDm,
  fullHistory,
  historyShape,
  rawSocket,
  registerUser,
  startClient,
  type FrontUser,
} from './support/front-door.ts';
import {
  isAlive,
  loadTopology,
  logMark,
  logSince,
  pidOf,
  readyStatus,
  signal,
  stack,
  until,
} from './support/topology.ts';

const topology = loadTopology();
const PER_USER = 30;

/** Two friends with a DM, each with an SDK client, on two different realtime nodes. */
async function pairOnTwoNodes(label: string) {
  const alice = await registerUser(topology, `${label}_a`);
  const bob = await registerUser(topology, `${label}_b`);
  const dm = await friendsWithDm(topology, alice, bob);
  const aliceClient = await startClient(topology, alice);
  let bobClient = await startClient(topology, bob);
  for (let tries = 0; bob.door.nodes.at(-1) === alice.door.nodes.at(-1) && tries < 5; tries++) {
    bobClient.stop();
    bobClient = await startClient(topology, bob);
  }
  assert.notEqual(bob.door.nodes.at(-1), alice.door.nodes.at(-1), 'users on different nodes');
  await aliceClient.openRoom(dm.id);
  await bobClient.openRoom(dm.id);
  return { alice, bob, dm, aliceClient, bobClient };
}

const confirmed = (client: AtlasClient, roomId: string) =>
  client
    .timeline(roomId)
    .entries()
    .filter((entry) => entry.seq !== null)
    .map((entry) => `${entry.seq}:${entry.clientMsgId}`);

describe('realtime nodes failing and leaving', () => {
  const cleanup: Array<() => void> = [];
  after(async () => {
    cleanup.forEach((step) => step());
    // Leave the topology whole for the next test file.
    for (const name of ['realtime-1', 'realtime-2', 'realtime-3']) {
      await stack('start', name);
    }
  });

  it('SIGKILL mid-conversation: clients move to other nodes, histories end identical and gapless', async () => {
    const { alice, bob, dm, aliceClient, bobClient } = await pairOnTwoNodes('kill');
    cleanup.push(
      () => aliceClient.stop(),
      () => bobClient.stop(),
      alice.door.close,
      bob.door.close,
    );
    const victim = alice.door.nodes.at(-1)!;

    for (let i = 0; i < PER_USER; i++) {
      aliceClient.send(dm.id, `alice ${i}`);
      bobClient.send(dm.id, `bob ${i}`);
      if (i === PER_USER / 3) {
        const pid = await signal(topology, victim, 'SIGKILL');
        await until(`${victim} gone`, () => !isAlive(pid), 5_000);
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
    }

    await until(
      'every send acknowledged and both timelines complete',
      () =>
        aliceClient.outbox().length === 0 &&
        bobClient.outbox().length === 0 &&
        confirmed(aliceClient, dm.id).length === 2 * PER_USER &&
        confirmed(bobClient, dm.id).length === 2 * PER_USER,
      60_000,
    );
    assert.notEqual(alice.door.nodes.at(-1), victim, 'alice reconnected to another node');
    assert.ok(alice.door.nodes.length >= 2, 'alice opened a new socket');
    assert.deepEqual(confirmed(bobClient, dm.id), confirmed(aliceClient, dm.id));
    const history = await fullHistory(authed(topology, bob), dm.id);
    assert.deepEqual(historyShape(history), {
      count: 2 * PER_USER,
      gapless: true,
      uniqueClientMsgIds: true,
    });
    assert.deepEqual(
      history.map((m) => `${m.seq}:${m.clientMsgId}`),
      confirmed(aliceClient, dm.id),
    );
  });

  it('SIGTERM drains: not ready first, then 1001 closes in batches, and clients resume elsewhere', async () => {
    const { alice, bob, dm, aliceClient, bobClient } = await pairOnTwoNodes('drain');
    cleanup.push(
      () => aliceClient.stop(),
      () => bobClient.stop(),
      alice.door.close,
      bob.door.close,
    );
    const node = alice.door.nodes.at(-1)!;
    // Enough raw sockets on the node that its drain takes several batches.
    const extra: FrontUser[] = [];
    const sockets: Array<Awaited<ReturnType<typeof rawSocket>>> = [];
    for (let u = 0; u < 4; u++) {
      const user = await registerUser(topology, `drain_${u}`);
      extra.push(user);
      cleanup.push(user.door.close);
      for (let s = 0; s < 15; s++) {
        sockets.push(await rawSocket(topology, user));
      }
    }
    const onNode = sockets.filter((entry) => entry.node === node).map((entry) => entry.socket);
    cleanup.push(() => sockets.forEach((entry) => entry.socket.close()));
    assert.ok(onNode.length >= 12, `sockets on ${node}: ${onNode.length}`);

    const mark = await logMark(topology, node);
    const pid = await pidOf(topology, node);
    const stopped = Date.now();
    process.kill(pid, 'SIGTERM');
    await until(
      `${node} not ready`,
      async () => (await readyStatus(topology, node)) === 503,
      2_000,
      50,
    );
    // While it drains, new sockets land on other nodes.
    const late = await rawSocket(topology, extra[0]!);
    cleanup.push(() => late.socket.close());
    assert.notEqual(late.node, node, 'a new socket avoids the draining node');

    const closes = await Promise.all(
      onNode.map(async (socket) => ({ ...(await socket.waitClose(30_000)), at: Date.now() })),
    );
    assert.ok(
      closes.every((close) => close.code === 1001),
      JSON.stringify(closes.slice(0, 3)),
    );
    const firstClose = Math.min(...closes.map((close) => close.at));
    const lastClose = Math.max(...closes.map((close) => close.at));
    assert.ok(firstClose - stopped >= 1_500, 'sockets stay open while the node turns not ready');
    assert.ok(lastClose - firstClose >= 150, 'closes are spread over several batches');
    await until(`${node} exited`, () => !isAlive(pid), 30_000);
    const log = await logSince(topology, node, mark);
    const drained = /"batches":(\d+)/.exec(log);
    assert.ok(drained && Number(drained[1]) >= 2, `drained in batches: ${log.slice(-400)}`);

    await until(
      'alice back on another node',
      () => aliceClient.synced && alice.door.nodes.length >= 2,
      20_000,
    );
    assert.notEqual(alice.door.nodes.at(-1), node);
    aliceClient.send(dm.id, 'after the drain');
    await until('bob gets the message sent after the drain', () =>
      bobClient
        .timeline(dm.id)
        .entries()
        .some((entry) => entry.body === 'after the drain' && entry.seq !== null),
    );
  });
});
