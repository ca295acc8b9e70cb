import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { serve } from '@hono/node-server';
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { ErrorCode } from '../errors.ts';

export interface NodeServerOptions {
  fetch: (request: Request, env: unknown) => Response | Promise<Response>;
  host: string;
  port: number;
  /** Handles WebSocket upgrades to `/ws`; without it every upgrade is refused. */
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
    const path = (request.url ?? '').split('?')[0];
    if (!options.upgrade || path !== '/ws') {
      socket.end(rawJsonError(404, 'not_found', 'no WebSocket endpoint here'));
      return;
    }
    Promise.resolve(options.upgrade(request, socket, head)).catch(() => socket.destroy());
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    socket.end(
      rawJsonError(
        tooLarge ? 431 : 400,
        tooLarge ? 'headers_too_large' : 'bad_request',
        tooLarge ? 'request headers are too large' : 'malformed HTTP request',
      ),
    );
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
  const shownHost =
    options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
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

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  431: 'Request Header Fields Too Large',
};

/** A complete HTTP/1.1 error response for sockets that never reached the router. */
function rawJsonError(status: number, code: ErrorCode, message: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}
