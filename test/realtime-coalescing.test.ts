import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Peer } from 'crossws';
import { Connection } from '../realtime/connection.ts';
import type { MessageStore } from '../shared/ports/index.ts';

/** A peer whose TCP socket records corks and whose sends record what went out. */
function fakePeer() {
  const events: string[] = [];
  const socket = {
    corked: 0,
    cork() {
      this.corked++;
      events.push('cork');
    },
    uncork() {
      this.corked--;
      events.push('uncork');
    },
  };
  const peer = {
    id: 'peer-1',
    bufferedAmount: 0,
    websocket: { _socket: socket },
    send(data: string | Uint8Array, options: { binary: boolean }) {
      events.push(`send:${typeof data === 'string' ? data : Buffer.from(data).toString()}`);
      assert.equal(options.binary, false, 'every frame goes out as text');
    },
  };
  return { peer: peer as unknown as Peer, socket, events };
}

function connectionOn(peer: Peer): Connection {
  const limits = {
    maxBufferedBytes: 1 << 20,
    sendsPerSecond: 20,
    sendBurst: 40,
    framesPerSecond: 50,
    frameBurst: 100,
  };
  return new Connection('c1', peer, 'u1', 's1', 0, limits, {} as MessageStore, () => undefined);
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

test('the first frame of a turn goes out at once; the rest of the turn in one corked write', async () => {
  const { peer, socket, events } = fakePeer();
  const connection = connectionOn(peer);
  connection.sendText('{"a":1}');
  connection.sendText(Buffer.from('{"b":2}'));
  connection.sendText('{"c":3}');
  assert.deepEqual(events, ['send:{"a":1}', 'cork', 'send:{"b":2}', 'send:{"c":3}']);
  await nextTurn();
  assert.equal(socket.corked, 0);
  assert.deepEqual(events.slice(4), ['uncork']);
  // A later turn with one frame: no corking at all.
  connection.sendText('{"d":4}');
  await nextTurn();
  assert.deepEqual(events.slice(5), ['send:{"d":4}']);
});

test('a burst larger than the corking limit is written out as it goes', async () => {
  const { peer, socket, events } = fakePeer();
  const connection = connectionOn(peer);
  const frame = 'x'.repeat(20_000);
  for (let i = 0; i < 10; i++) {
    connection.sendText(frame);
  }
  // 200 KB in 20 KB frames: written out whenever over 64 KiB piled up, never more held back.
  assert.equal(events.filter((e) => e === 'uncork').length, 2);
  assert.ok(socket.corked <= 1);
  await nextTurn();
  assert.equal(socket.corked, 0);
});

test('a peer without a reachable TCP socket still gets every frame', async () => {
  const sent: string[] = [];
  const peer = {
    bufferedAmount: 0,
    websocket: {},
    send: (data: string) => sent.push(data),
  } as unknown as Peer;
  const connection = connectionOn(peer);
  connection.sendText('one');
  connection.sendText('two');
  await nextTurn();
  assert.deepEqual(sent, ['one', 'two']);
});
