import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import WebSocket from 'ws';
import {
  AtlasClient,
  AtlasHttp,
  type FetchLike,
  type Session,
  type WebSocketConstructor,
} from '../../../shared/sdk/index.ts';
import { TestSocket } from '../../support/ws-client.ts';
import { until, type Topology } from './topology.ts';

/**
 * Clients of the front door only (HTTPS and WSS through HAProxy). Each one trusts the local CA
 * and nothing else, and speaks from a loopback address of its own (127.x.y.z), as users on
 * different machines would: the gateways' per-address limits see them apart.
 */
export interface FrontDoor {
  address: string;
  fetch: FetchLike;
  WebSocket: WebSocketConstructor;
  /** The realtime node behind each WebSocket this client opened, in order. */
  nodes: string[];
  http: AtlasHttp;
  close(): void;
}

export function randomLoopback(): string {
  return `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(2, 255)}`;
}

export function frontDoor(topology: Topology, address = randomLoopback()): FrontDoor {
  const ca = readFileSync(topology.caFile);
  const agent = new Agent({ keepAlive: true, ca, localAddress: address, maxSockets: 16 });
  const nodes: string[] = [];

  const fetchOverHttps: FetchLike = (input, init = {}) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, key) => (headers[key] = value));
      const req = request(input, { method: init.method ?? 'GET', headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const answer = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            for (const one of Array.isArray(value) ? value : [value ?? '']) {
              answer.append(key, one);
            }
          }
          const status = res.statusCode ?? 0;
          const body = chunks.length === 0 || status === 204 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers: answer }));
        });
      });
      req.on('error', reject);
      if (init.body !== undefined && init.body !== null) {
        req.write(String(init.body));
      }
      req.end();
    });

  class FrontDoorWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { ca, localAddress: address });
      this.once('upgrade', (response) => {
        nodes.push(String(response.headers['x-atlas-node'] ?? 'unknown'));
      });
    }
  }

  return {
    address,
    fetch: fetchOverHttps,
    WebSocket: FrontDoorWebSocket as unknown as WebSocketConstructor,
    nodes,
    http: new AtlasHttp({ baseUrl: topology.frontUrl, fetch: fetchOverHttps }),
    close: () => agent.destroy(),
  };
}

const PASSWORD = 'a long local password';
let registered = 0;

export interface FrontUser {
  door: FrontDoor;
  session: Session;
  username: string;
  password: string;
}

export async function registerUser(topology: Topology, label: string): Promise<FrontUser> {
  const door = frontDoor(topology);
  const username = `${label}_${process.pid.toString(36)}_${Date.now().toString(36)}_${++registered}`;
  const session = await door.http.register({ username, password: PASSWORD });
  return { door, session, username, password: PASSWORD };
}

/** An SDK client of `user` through the front door, started and caught up. */
export async function startClient(topology: Topology, user: FrontUser): Promise<AtlasClient> {
  const client = new AtlasClient({
    session: user.session,
    baseUrl: topology.frontUrl,
    fetch: user.door.fetch,
    WebSocket: user.door.WebSocket,
    backoff: { initialMs: 200, maxMs: 1_000 },
  });
  client.on('session', (session) => (user.session = session));
  client.start();
  await until(`${user.username} connected and synced`, () => client.synced, 20_000);
  return client;
}

/** Two users who are friends, with a DM between them. */
export async function friendsWithDm(topology: Topology, a: FrontUser, b: FrontUser) {
  const ha = authed(topology, a);
  const hb = authed(topology, b);
  await ha.sendFriendRequest(b.session.user.id);
  await hb.acceptFriendRequest(a.session.user.id);
  return ha.openDm(b.session.user.id);
}

/** The REST API as `user`, through the front door. */
export function authed(topology: Topology, user: FrontUser): AtlasHttp {
  return new AtlasHttp({
    baseUrl: topology.frontUrl,
    fetch: user.door.fetch,
    getAccessToken: () => user.session.accessToken,
  });
}

/**
 * A raw protocol socket of `user` through the front door (for close codes and frames), and the
 * realtime node that took it.
 */
export async function rawSocket(
  topology: Topology,
  user: FrontUser,
): Promise<{ socket: TestSocket; node: string }> {
  const url = `${topology.frontUrl.replace('https', 'wss')}/ws?access_token=${encodeURIComponent(user.session.accessToken)}`;
  let node = 'unknown';
  const socket = await TestSocket.open(url, {
    ca: readFileSync(topology.caFile),
    localAddress: user.door.address,
    finishRequest(request) {
      request.on('upgrade', (response) => {
        node = String(response.headers['x-atlas-node'] ?? 'unknown');
      });
      request.end();
    },
  });
  await socket.next((frame) => frame.type === 'hello', 10_000);
  return { socket, node };
}

/** Every message of a room through the front door, oldest first, paging with `after`. */
export async function fullHistory(http: AtlasHttp, roomId: string) {
  const all: Array<{ seq: number; clientMsgId: string; body: string; senderId: string }> = [];
  for (let after = 0; ;) {
    const page = await http.messages(roomId, { after, limit: 200 });
    all.push(...page.messages);
    if (!page.hasMore || page.messages.length === 0) {
      return all;
    }
    after = page.messages.at(-1)!.seq;
  }
}

/** Asserts-ready summary of a history: seqs must be exactly 1..n, clientMsgIds unique. */
export function historyShape(messages: ReadonlyArray<{ seq: number; clientMsgId: string }>) {
  const seqs = messages.map((m) => m.seq);
  const ids = new Set(messages.map((m) => m.clientMsgId));
  return {
    count: messages.length,
    gapless: seqs.every((seq, i) => seq === i + 1),
    uniqueClientMsgIds: ids.size === messages.length,
  };
}
