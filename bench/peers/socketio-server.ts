import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { jwtVerify } from 'jose';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Server } from 'socket.io';

/**
 * The Socket.IO peer: the original design's stack, one process per node, nodes joined by the
 * Redis adapter. Clients authenticate with an HS256 JWT (as Centrifugo's do), join their rooms,
 * and `send` broadcasts to a room, acknowledged once handed to the adapter.
 */
const port = Number(process.env.PORT);
const secret = new TextEncoder().encode(process.env.BENCH_HMAC_SECRET ?? '');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'socketio_' });

const http = createServer((request, response) => {
  if (request.url === '/metrics') {
    registry.metrics().then((text) => {
      response.writeHead(200, { 'content-type': registry.contentType });
      response.end(text);
    });
    return;
  }
  response.writeHead(404).end();
});

const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  adapter: createAdapter(pub, sub, { key: 'bench-socket.io' }),
});

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: string }).token ?? '';
  jwtVerify(token, secret, { algorithms: ['HS256'] }).then(
    ({ payload }) => {
      socket.data.userId = payload.sub;
      next();
    },
    () => next(new Error('unauthorized')),
  );
});

io.on('connection', (socket) => {
  socket.on('join', (rooms: unknown, ack: unknown) => {
    if (Array.isArray(rooms)) {
      socket.join(rooms.filter((room): room is string => typeof room === 'string'));
    }
    if (typeof ack === 'function') {
      ack();
    }
  });
  socket.on('send', (room: unknown, body: unknown, ack: unknown) => {
    if (typeof room === 'string' && typeof body === 'string') {
      io.to(room).emit('msg', room, body);
    }
    if (typeof ack === 'function') {
      ack();
    }
  });
});

http.listen(port, '127.0.0.1', () => console.log(`socket.io listening on ${port}`));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    io.close();
    pub.disconnect();
    sub.disconnect();
    process.exit(0);
  });
}
