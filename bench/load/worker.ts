import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { channels } from '../../shared/ports/index.ts';
import { redisPrefix } from '../../shared/redis/connection.ts';
import { encodeHistogram, newLatencyHistogram, recordMs } from '../lib/histogram.ts';
import type { SendResult, WorkerCommand, WorkerReply, WorkerReport } from './messages.ts';
import { runPaced } from './paced.ts';
import {
  openSession,
  protocolUrl,
  type ClientSpec,
  type ProtocolEvent,
  type ProtocolName,
  type ProtocolSession,
} from './protocols.ts';

/**
 * One load-generator process: holds its share of the clients, sends on an open-loop schedule
 * and records the latency of every delivery (send stamp to receipt) in an HDR histogram.
 * Bodies are "<stamp ms> <room counter> <padding>"; stamps are wall-clock milliseconds with
 * microsecond fraction, comparable across the processes of one machine.
 */

const now = () => performance.timeOrigin + performance.now();

class Client {
  socket: WebSocket | undefined;
  ready = false;
  closedByUs = false;
  /** Per room, the next counter expected (counters start at 1). */
  readonly expected = new Map<string, number>();
  session: ProtocolSession;

  constructor(readonly spec: ClientSpec) {
    this.session = openSession(state.protocol, spec, undefined);
    for (const room of spec.rooms) {
      this.expected.set(room, 1);
    }
  }

  open(resuming: boolean, onReady: () => void, onFail: (code: string) => void): void {
    const endpoint = this.spec.endpoints[this.spec.endpointIndex % this.spec.endpoints.length]!;
    const lastSeen = resuming
      ? new Map([...this.expected].map(([room, next]) => [room, next - 1]))
      : undefined;
    this.session = openSession(state.protocol, this.spec, lastSeen);
    this.ready = false;
    let settled = false;
    const socket = new WebSocket(protocolUrl(state.protocol, endpoint, this.spec, resuming), {
      localAddress: this.spec.localAddress,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
    });
    this.socket = socket;
    socket.on('open', () => {
      for (const frame of this.session.opening()) {
        socket.send(frame);
      }
    });
    socket.on('message', (data: Buffer) => {
      const answers = this.session.receive(data.toString(), (event) => {
        if (event.kind === 'ready' && !settled) {
          settled = true;
          this.ready = true;
          onReady();
        }
        this.onEvent(event);
      });
      for (const frame of answers) {
        socket.send(frame);
      }
    });
    socket.on('unexpected-response', (_request, response) => {
      settled = true;
      onFail(`http_${response.statusCode}`);
      socket.terminate();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!settled) {
        settled = true;
        onFail(error.code ?? 'socket_error');
      }
    });
    socket.on('close', () => {
      const wasReady = this.ready;
      this.ready = false;
      if (this.closedByUs || this.socket !== socket) {
        return;
      }
      if (wasReady) {
        state.drops++;
        if (state.reconnect) {
          this.reconnect();
        }
      } else if (!settled) {
        settled = true;
        onFail('closed_before_ready');
      }
    });
  }

  /** Backs off with jitter, then tries the next node (the old one may be gone). */
  reconnect(attempt = 0): void {
    const delay = Math.min(5_000, 250 * 2 ** attempt) * (0.5 + Math.random());
    setTimeout(() => {
      if (this.closedByUs) {
        return;
      }
      this.spec.endpointIndex++;
      state.reconnects++;
      this.open(
        true,
        () => {
          state.resumed++;
          state.lastResumedAt = Date.now();
        },
        () => this.reconnect(attempt + 1),
      );
    }, delay);
  }

  private onEvent(event: ProtocolEvent): void {
    switch (event.kind) {
      case 'delivery':
        this.onDelivery(event.room, event.body, event.seq);
        return;
      case 'ack':
        onAck(event.id, event.seq);
        return;
      case 'error':
        countError(event.code);
        return;
      default:
        return;
    }
  }

  private onDelivery(room: string, body: string, seq: number | undefined): void {
    const space = body.indexOf(' ');
    const stamp = Number(body.slice(0, space));
    // A room's seq is the order the server promises; without one, the sender's counter.
    const counter = seq ?? Number(body.slice(space + 1, body.indexOf(' ', space + 1)));
    state.deliveries++;
    if (stamp >= state.measureFrom) {
      recordMs(state.histogram, now() - stamp);
    }
    const expected = this.expected.get(room) ?? 1;
    if (counter === expected) {
      this.expected.set(room, expected + 1);
    } else if (counter < expected) {
      state.doubled++;
    } else {
      state.missing += counter - expected;
      this.expected.set(room, counter + 1);
    }
  }

  close(): void {
    this.closedByUs = true;
    this.socket?.terminate();
  }
}

const state = {
  protocol: 'atlas' as ProtocolName,
  reconnect: false,
  clients: [] as Client[],
  histogram: newLatencyHistogram(),
  measureFrom: Number.POSITIVE_INFINITY,
  deliveries: 0,
  drops: 0,
  reconnects: 0,
  resumed: 0,
  lastResumedAt: 0,
  missing: 0,
  doubled: 0,
  errors: {} as Record<string, number>,
  /** Sends waiting for their ack: id -> room and counter. */
  inFlight: new Map<number, { room: string; counter: number }>(),
  ackedUpTo: {} as Record<string, number>,
  acked: 0,
  nextId: 1,
  /** Per room, the next counter this worker's sender will use. */
  counters: new Map<string, number>(),
};

function countError(code: string): void {
  state.errors[code] = (state.errors[code] ?? 0) + 1;
}

function onAck(id: number, seq: number | undefined): void {
  const sent = state.inFlight.get(id);
  if (!sent) {
    return;
  }
  state.inFlight.delete(id);
  state.acked++;
  const counter = seq ?? sent.counter;
  state.ackedUpTo[sent.room] = Math.max(state.ackedUpTo[sent.room] ?? 0, counter);
}

function reply(message: WorkerReply): void {
  process.send!(message);
}

async function connectAll(command: Extract<WorkerCommand, { type: 'connect' }>): Promise<void> {
  state.protocol = command.protocol;
  state.reconnect = command.reconnect;
  const started = Date.now();
  let opened = 0;
  let failed = 0;
  const errors: Record<string, number> = {};
  const clients = command.clients.map((spec) => new Client(spec));
  state.clients.push(...clients);
  // A refused or reset attempt is retried twice after a pause, as a real client would.
  const attempt = (client: Client, tries: number, settle: () => void): void => {
    client.open(
      false,
      () => {
        opened++;
        settle();
      },
      (code) => {
        errors[code] = (errors[code] ?? 0) + 1;
        if (tries < 2) {
          setTimeout(() => attempt(client, tries + 1, settle), 500 + Math.random() * 1_000);
          return;
        }
        failed++;
        settle();
      },
    );
  };
  await runPaced(
    clients.length,
    {
      perSecond: command.connectsPerSecond,
      maxInFlight: command.maxInFlight,
      timeoutMs: command.timeoutMs,
    },
    (index, settle) => attempt(clients[index]!, 0, settle),
  );
  reply({ type: 'connected', opened, failed, elapsedMs: Date.now() - started, errors });
}

async function sendFor(command: Extract<WorkerCommand, { type: 'send' }>): Promise<void> {
  const { senders, messagesPerSecond, durationMs } = command;
  const padding = 'x'.repeat(Math.max(0, command.bodyBytes - 24));
  const started = command.startAt;
  state.measureFrom = Math.min(state.measureFrom, started);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, started - now())));
  let sent = 0;
  let lateMs = 0;
  const total = Math.floor((messagesPerSecond * durationMs) / 1000);
  const backplane = command.backplaneUrl ? new Redis(command.backplaneUrl) : undefined;
  await new Promise<void>((resolve) => {
    if (senders.length === 0 || total === 0) {
      resolve();
      return;
    }
    const timer = setInterval(() => {
      const elapsed = now() - started;
      const due = Math.min(total, Math.floor((elapsed * messagesPerSecond) / 1000) + 1);
      for (; sent < due; sent++) {
        // Stamped with the intended send time, so a late generator shows up as latency.
        const intended = started + (sent * 1000) / messagesPerSecond;
        lateMs = Math.max(lateMs, now() - intended);
        const plan = senders[sent % senders.length]!;
        const client = state.clients[plan.client];
        const counter = state.counters.get(plan.room) ?? 1;
        if (!client?.ready || !client.socket) {
          countError('sender_not_ready');
          continue;
        }
        state.counters.set(plan.room, counter + 1);
        const id = state.nextId++;
        const body = `${intended.toFixed(3)} ${counter} ${padding}`;
        if (backplane) {
          publishAccepted(backplane, plan.room, counter, body, id);
          continue;
        }
        state.inFlight.set(id, { room: plan.room, counter });
        client.socket.send(client.session.send(plan.room, body, id));
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  backplane?.disconnect();
  const result: SendResult = {
    type: 'sent',
    sent,
    acked: state.acked,
    ackedUpTo: state.ackedUpTo,
    lateMs: Math.round(lateMs),
  };
  reply(result);
}

/** What the sequencer publishes for an accepted message; counted as acked once Redis took it. */
function publishAccepted(redis: Redis, room: string, seq: number, body: string, id: number): void {
  const message = {
    id: `00000000-0000-7000-8000-${String(id).padStart(12, '0')}`,
    roomId: room,
    seq,
    senderId: '00000000-0000-7000-8000-000000000000',
    body,
    clientMsgId: `b${id}`,
    createdAt: new Date().toISOString(),
  };
  redis
    .publish(
      `${redisPrefix(undefined)}${channels.room(room)}`,
      JSON.stringify({ t: 'message', message }),
    )
    .then(
      () => {
        state.acked++;
        state.ackedUpTo[room] = Math.max(state.ackedUpTo[room] ?? 0, seq);
      },
      () => countError('backplane_publish_failed'),
    );
}

function report(): void {
  const lastSeen: Array<[string, number]> = [];
  for (const [index, client] of state.clients.entries()) {
    for (const [room, next] of client.expected) {
      lastSeen.push([`${index}|${room}`, next - 1]);
    }
  }
  const message: WorkerReport = {
    type: 'report',
    histogram: encodeHistogram(state.histogram),
    deliveries: state.deliveries,
    open: state.clients.filter((c) => c.ready).length,
    drops: state.drops,
    reconnects: state.reconnects,
    resumed: state.resumed,
    lastResumedAt: state.lastResumedAt,
    missing: state.missing,
    doubled: state.doubled,
    acked: state.acked,
    ackedUpTo: state.ackedUpTo,
    errors: state.errors,
    lastSeen,
  };
  reply(message);
}

function reset(): void {
  state.histogram = newLatencyHistogram();
  state.measureFrom = Number.POSITIVE_INFINITY;
  state.deliveries = 0;
  state.drops = 0;
  state.reconnects = 0;
  state.resumed = 0;
  state.missing = 0;
  state.doubled = 0;
  state.errors = {};
  state.acked = 0;
}

process.on('message', (command: WorkerCommand) => {
  switch (command.type) {
    case 'connect':
      void connectAll(command);
      return;
    case 'send':
      void sendFor(command);
      return;
    case 'reset':
      reset();
      return;
    case 'report':
      report();
      return;
    case 'close':
      for (const client of state.clients) {
        client.close();
      }
      setTimeout(() => process.exit(0), 200);
      return;
  }
});
process.on('disconnect', () => process.exit(0));
