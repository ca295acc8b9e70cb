import type { Peer } from 'crossws';
import type { ErrorCode } from '../shared/errors.ts';
import type { MessageStore } from '../shared/ports/index.ts';
import { CloseCode } from './close-codes.ts';
import { ExpirySweep } from './expiry-sweep.ts';
import { RoomStream } from './room-stream.ts';
import { TokenBucket } from './token-bucket.ts';

export interface ConnectionLimits {
  /** Bytes the socket may have queued before the client counts as a slow consumer. */
  maxBufferedBytes: number;
  sendsPerSecond: number;
  sendBurst: number;
  framesPerSecond: number;
  frameBurst: number;
}

/** How long a slow consumer gets to take its close frame before the socket is cut. */
const CLOSE_GRACE_MS = 3_000;

/**
 * Every frame ATLAS sends is a text frame, also when it is handed over already UTF-8 encoded
 * (frames fanned out to many connections are encoded once). The node adapter passes these
 * options through to `ws`, after its own guess from the data's type.
 */
const TEXT_FRAME = { binary: false, compress: false };

/** A frame as JSON text, or the same text already encoded as UTF-8. */
export type FrameData = string | Uint8Array;

/** The TCP socket under a WebSocket, as far as write coalescing needs it. */
interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

/**
 * Write coalescing. One system call per frame dominates fan-out, so when a connection is given a
 * second frame within one turn of the event loop (a Redis read carrying several messages of its
 * rooms, a page of sync replay), its socket is corked and the rest of the turn's frames leave
 * in one write. The first frame of a turn is written at once: most turns carry one frame per
 * connection, and those pay nothing for this.
 */
let turn = 0;
let turnEndScheduled = false;
const corkedThisTurn: Connection[] = [];

function endTurn(): void {
  turnEndScheduled = false;
  turn++;
  for (const connection of corkedThisTurn.splice(0)) {
    connection.uncork();
  }
}

/** The number of the current turn; ends (and uncorks) once the current work is done. */
function currentTurn(): number {
  if (!turnEndScheduled) {
    turnEndScheduled = true;
    process.nextTick(endTurn);
  }
  return turn;
}

/**
 * Bytes a corked socket collects before they are written out anyway: bounds the memory a burst
 * holds back, and keeps the slow-consumer check honest, since it counts queued bytes that a
 * corked socket has not even tried to send yet.
 */
const MAX_CORKED_BYTES = 64 * 1024;

/** Every connection's token expiry, on one timer for the process. */
const expiries = new ExpirySweep<Connection>((connection) =>
  connection.close(CloseCode.tokenExpired, 'token expired'),
);

/** One authenticated WebSocket and everything the node tracks for it. */
export class Connection {
  readonly rooms = new Map<string, RoomStream>();
  readonly sends: TokenBucket;
  readonly frames: TokenBucket;
  /** Set by a pong; cleared by each heartbeat sweep. */
  alive = true;
  closing = false;
  /** Resolves once the node has set the connection up (rooms joined, hello sent). */
  ready: Promise<void> = Promise.resolve();
  private holdTimer: NodeJS.Timeout | undefined;
  /** The TCP socket, looked up on the first send; null when the adapter does not expose one. */
  private socket: CorkableSocket | null | undefined;
  private corked = false;
  private corkedBytes = 0;
  /** The turn of the last frame sent; a second frame in the same turn corks the socket. */
  private lastTurn = -1;

  constructor(
    readonly id: string,
    readonly peer: Peer,
    readonly userId: string,
    public sessionId: string,
    public expiresAt: number,
    private readonly limits: ConnectionLimits,
    private readonly store: MessageStore,
    private readonly onGap: () => void,
    private readonly onSlowConsumer: () => void = () => undefined,
  ) {
    this.sends = new TokenBucket(limits.sendsPerSecond, limits.sendBurst);
    this.frames = new TokenBucket(limits.framesPerSecond, limits.frameBurst);
  }

  /**
   * Queues a text frame. A client that lets more than the limit pile up is closed as a slow
   * consumer (it resumes with sync); the node never buffers for it without bound.
   */
  sendText(frame: FrameData): boolean {
    if (this.closing) {
      return false;
    }
    if (this.peer.bufferedAmount > this.limits.maxBufferedBytes) {
      this.onSlowConsumer();
      this.close(CloseCode.slowConsumer, 'slow consumer');
      return false;
    }
    const now = currentTurn();
    if (this.lastTurn === now) {
      this.corkForThisTurn();
    }
    this.lastTurn = now;
    this.peer.send(frame, TEXT_FRAME);
    if (this.corked) {
      this.corkedBytes += frame.length;
      if (this.corkedBytes > MAX_CORKED_BYTES) {
        this.uncork();
      }
    }
    return true;
  }

  private corkForThisTurn(): void {
    if (this.corked) {
      return;
    }
    this.corkedBytes = 0;
    if (this.socket === undefined) {
      // crossws exposes the `ws` WebSocket; `ws` keeps its TCP socket in `_socket`.
      const candidate = (this.peer.websocket as { _socket?: Partial<CorkableSocket> })._socket;
      this.socket =
        typeof candidate?.cork === 'function' && typeof candidate.uncork === 'function'
          ? (candidate as CorkableSocket)
          : null;
    }
    if (this.socket === null) {
      return;
    }
    this.socket.cork();
    this.corked = true;
    corkedThisTurn.push(this);
  }

  /** Writes out everything queued since the socket was corked (called once per turn). */
  uncork(): void {
    if (this.corked) {
      this.corked = false;
      this.socket?.uncork();
    }
  }

  send(frame: object): boolean {
    return this.sendText(JSON.stringify(frame));
  }

  sendError(code: ErrorCode, message: string, ref: string | undefined): void {
    this.send({ type: 'error', code, message, ref: ref ?? null });
  }

  joinRoom(roomId: string, cursor: number, held: boolean): RoomStream {
    let stream = this.rooms.get(roomId);
    if (!stream) {
      stream = new RoomStream(
        roomId,
        cursor,
        held,
        this.store,
        (frame) => this.sendText(frame),
        this.onGap,
      );
      this.rooms.set(roomId, stream);
    }
    return stream;
  }

  /** Releases every held room after `ms` even if the client never syncs them. */
  holdFor(ms: number): void {
    this.holdTimer = setTimeout(() => this.releaseAll(), ms);
    this.holdTimer.unref();
  }

  releaseAll(): void {
    clearTimeout(this.holdTimer);
    for (const stream of this.rooms.values()) {
      stream.release();
    }
  }

  /** Closes the socket at `expiresAt` (seconds) unless the client re-authenticates first. */
  expireAt(expiresAtSeconds: number): void {
    expiries.remove(this, this.expiresAt);
    this.expiresAt = expiresAtSeconds;
    expiries.add(this, expiresAtSeconds);
  }

  close(code: number, reason: string): void {
    if (this.closing) {
      return;
    }
    this.closing = true;
    this.dispose();
    this.peer.close(code, reason);
    const cut = setTimeout(() => this.peer.terminate(), CLOSE_GRACE_MS);
    cut.unref();
  }

  dispose(): void {
    expiries.remove(this, this.expiresAt);
    clearTimeout(this.holdTimer);
  }
}
