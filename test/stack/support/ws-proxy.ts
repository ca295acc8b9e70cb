import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

/**
 * A WebSocket-to-TCP proxy in the shape the Neon driver expects of `wsProxy`: it connects to
 * `ws://<proxy>/?address=<host>:<port>` and then speaks the Postgres protocol in binary frames.
 * Test infrastructure only: it relays to the targets in `allow` and nothing else, so a test can
 * never be turned into a relay to arbitrary hosts.
 */
export interface WsProxy {
  /** What to put in `neonConfig.wsProxy` (host:port, no scheme). */
  address: string;
  /** Connections relayed so far, and those open now. */
  stats(): { accepted: number; refused: number; open: number };
  /** Drops every relayed connection at once, like a proxy crash. */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startWsProxy(options: { allow: readonly string[] }): Promise<WsProxy> {
  const allowed = new Set(options.allow);
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const live = new Set<{ ws: WebSocket; tcp: Socket }>();
  let accepted = 0;
  let refused = 0;

  server.on('connection', (ws, request) => {
    const target = new URL(request.url ?? '/', 'ws://proxy').searchParams.get('address') ?? '';
    const [host, port] = splitHostPort(target);
    if (!allowed.has(target) || host === undefined || port === undefined) {
      refused += 1;
      ws.close(1008, 'target not allowed');
      return;
    }
    accepted += 1;
    const tcp = connect({ host, port, noDelay: true });
    const pair = { ws, tcp };
    live.add(pair);
    // Frames that arrive before the TCP side is up are queued by the socket itself.
    ws.on('message', (data: RawData) => {
      tcp.write(toBuffer(data));
    });
    tcp.on('data', (chunk: Buffer) => {
      ws.send(chunk);
    });
    const end = () => {
      live.delete(pair);
      tcp.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
        ws.close();
      }
    };
    ws.on('close', end);
    ws.on('error', end);
    tcp.on('close', end);
    tcp.on('error', end);
  });

  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('the proxy has no TCP address');
  }
  function dropAll(): void {
    for (const { ws, tcp } of live) {
      tcp.destroy();
      ws.terminate();
    }
    live.clear();
  }
  return {
    address: `127.0.0.1:${address.port}`,
    stats: () => ({ accepted, refused, open: live.size }),
    dropAll,
    async close() {
      dropAll();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
      });
    },
  };
}

function splitHostPort(target: string): [host: string | undefined, port: number | undefined] {
  const colon = target.lastIndexOf(':');
  const port = Number(target.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) {
    return [undefined, undefined];
  }
  return [target.slice(0, colon), port];
}

function toBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) {
    return Buffer.concat(data);
  }
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}
