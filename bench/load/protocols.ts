/**
 * The three client protocols the load generator speaks, each over a plain WebSocket: ATLAS's
 * JSON frames, Socket.IO's Engine.IO v4 packets, and Centrifugo's JSON protocol. Each turns the
 * harness's three actions (join the rooms, send a body, resume after a reconnect) into frames
 * and each incoming frame into events.
 */
export interface ClientSpec {
  /** ws:// URL of the node this client starts on; the others are tried on reconnect. */
  endpoints: readonly string[];
  endpointIndex: number;
  token: string;
  rooms: readonly string[];
  localAddress: string;
}

export type ProtocolEvent =
  | { kind: 'ready' }
  /** `seq`, when the protocol numbers a room's messages, replaces the sender's counter. */
  | { kind: 'delivery'; room: string; body: string; seq?: number }
  | { kind: 'ack'; id: number; seq?: number }
  | { kind: 'reply'; text: string }
  | { kind: 'error'; code: string };

export interface ProtocolSession {
  /** Frames to send right after the socket opens. */
  opening(): string[];
  /** Parses one incoming frame; may return frames to answer with (pongs, joins). */
  receive(data: string, emit: (event: ProtocolEvent) => void): string[];
  /** The frame publishing `body` to `room`; `id` comes back in an ack event. */
  send(room: string, body: string, id: number): string;
}

export type ProtocolName = 'atlas' | 'socketio' | 'centrifugo';

export function protocolUrl(
  name: ProtocolName,
  endpoint: string,
  spec: ClientSpec,
  resuming: boolean,
): string {
  switch (name) {
    case 'atlas':
      return `${endpoint}/ws?access_token=${spec.token}${resuming ? '&sync=1' : ''}`;
    case 'socketio':
      return `${endpoint}/socket.io/?EIO=4&transport=websocket`;
    case 'centrifugo':
      return `${endpoint}/connection/websocket`;
  }
}

/**
 * `lastSeen` (the last counter received per room) is given when resuming after a reconnect:
 * protocols with recovery ask for what came after it; the others just join again.
 */
export function openSession(
  name: ProtocolName,
  spec: ClientSpec,
  lastSeen: ReadonlyMap<string, number> | undefined,
): ProtocolSession {
  switch (name) {
    case 'atlas':
      return atlasSession(lastSeen);
    case 'socketio':
      return socketIoSession(spec);
    case 'centrifugo':
      return centrifugoSession(spec);
  }
}

function atlasSession(lastSeen: ReadonlyMap<string, number> | undefined): ProtocolSession {
  // A resuming client opened the socket with sync=1, so nothing live overtakes its sync reply.
  // Rooms hold only the harness's messages, so a room's seq is the sender's counter.
  return {
    opening: () => [],
    receive(data, emit) {
      const frame = JSON.parse(data) as {
        type: string;
        message?: { roomId: string; body: string; seq: number };
        seq?: number;
        ref?: string;
        code?: string;
      };
      switch (frame.type) {
        case 'hello':
          if (lastSeen) {
            const cursors = Object.fromEntries(lastSeen);
            return [JSON.stringify({ type: 'sync', cursors, limit: 500 })];
          }
          emit({ kind: 'ready' });
          break;
        case 'synced':
          emit({ kind: 'ready' });
          break;
        case 'message':
          emit({
            kind: 'delivery',
            room: frame.message!.roomId,
            body: frame.message!.body,
            seq: frame.message!.seq,
          });
          break;
        case 'ack':
          emit({ kind: 'ack', id: Number(frame.ref), seq: frame.seq });
          break;
        case 'error':
          emit({ kind: 'error', code: frame.code ?? 'unknown' });
          break;
      }
      return [];
    },
    send: (room, body, id) =>
      JSON.stringify({ type: 'send', roomId: room, clientMsgId: `b${id}`, body, ref: String(id) }),
  };
}

function socketIoSession(spec: ClientSpec): ProtocolSession {
  const JOIN_ACK = 1;
  return {
    opening: () => [],
    receive(data, emit) {
      if (data === '2') {
        return ['3'];
      }
      if (data.startsWith('0{')) {
        return [`40${JSON.stringify({ token: spec.token })}`];
      }
      if (data.startsWith('40')) {
        return [`42${JOIN_ACK}${JSON.stringify(['join', spec.rooms])}`];
      }
      if (data.startsWith('43')) {
        const id = Number(/^43(\d+)/.exec(data)?.[1]);
        emit(id === JOIN_ACK ? { kind: 'ready' } : { kind: 'ack', id: id - 1_000 });
        return [];
      }
      if (data.startsWith('42')) {
        const [event, room, body] = JSON.parse(data.slice(2)) as [string, string, string];
        if (event === 'msg') {
          emit({ kind: 'delivery', room, body });
        }
        return [];
      }
      if (data.startsWith('44')) {
        emit({ kind: 'error', code: 'connect_error' });
      }
      return [];
    },
    // Ack ids below 1,000 are the harness's own requests.
    send: (room, body, id) => `42${id + 1_000}${JSON.stringify(['send', room, body])}`,
  };
}

interface CentrifugoReply {
  id?: number;
  error?: { code: number; message: string };
  connect?: object;
  subscribe?: object;
  push?: { channel: string; pub?: { data: { b: string } } };
}

function centrifugoSession(spec: ClientSpec): ProtocolSession {
  // Command ids: 1 connect, 2.. subscribes, 1,000,000+ publishes.
  const PUBLISH_BASE = 1_000_000;
  let subscribesLeft = spec.rooms.length;
  return {
    opening: () => [JSON.stringify({ id: 1, connect: { token: spec.token, name: 'bench' } })],
    receive(data, emit) {
      const answers: string[] = [];
      for (const line of data.split('\n')) {
        if (line.length === 0) {
          continue;
        }
        if (line === '{}') {
          answers.push('{}');
          continue;
        }
        const reply = JSON.parse(line) as CentrifugoReply;
        if (reply.error) {
          emit({ kind: 'error', code: `centrifugo_${reply.error.code}` });
          continue;
        }
        if (reply.push?.pub) {
          emit({ kind: 'delivery', room: reply.push.channel, body: reply.push.pub.data.b });
        } else if (reply.id === 1) {
          if (spec.rooms.length === 0) {
            emit({ kind: 'ready' });
          }
          answers.push(
            spec.rooms
              .map((channel, i) => JSON.stringify({ id: 2 + i, subscribe: { channel } }))
              .join('\n'),
          );
        } else if (reply.id !== undefined && reply.id >= PUBLISH_BASE) {
          emit({ kind: 'ack', id: reply.id - PUBLISH_BASE });
        } else if (reply.subscribe) {
          subscribesLeft--;
          if (subscribesLeft === 0) {
            emit({ kind: 'ready' });
          }
        }
      }
      return answers;
    },
    send: (room, body, id) =>
      JSON.stringify({ id: id + PUBLISH_BASE, publish: { channel: room, data: { b: body } } }),
  };
}
