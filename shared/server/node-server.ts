import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { serve } from '@hono/node-server';
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';

export interface NodeServerOptions {
  fetch: (request: Request, env: unknown) => Response | Promise<Response>;
  host: string;
  port: number;
  /** Handles WebSocket upgrades; without it upgrades are refused. */
  upgrade?: (request: IncomingMessage, socket: Duplex, head: Buffer) => void | Promise<void>;
  /** Sockets (HTTP and WebSocket) this process accepts at once; the rest are dropped at accept. */
  maxSockets: number;
}

export interface RunningServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Starts the Node HTTP server with timeouts that cut off slow or oversized clients. */
export async function startNodeServer(options: NodeServerOptions): Promise<RunningServer> {
  const server = serve({
    fetch: options.fetch,
    hostname: options.host,
    port: options.port,
    serverOptions: { maxHeaderSize: 16 * 1024 },
  }) as Server;
  // Slow-header and slow-body clients are cut off instead of holding sockets forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = options.maxSockets;
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (!options.upgrade) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    Promise.resolve(options.upgrade(request, socket, head)).catch(() => socket.destroy());
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    } else {
      socket.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    if (server.listening) {
      resolve();
      return;
    }
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  return {
    server,
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** The client's address: the socket's, or the first X-Forwarded-For hop behind a trusted proxy. */
export function nodeClientAddress(trustProxy: boolean) {
  return function clientAddress(c: Context): string {
    if (trustProxy) {
      const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
      if (forwarded) {
        return forwarded;
      }
    }
    try {
      return getConnInfo(c).remote.address ?? 'unknown';
    } catch {
      return 'unknown';
    }
  };
}
