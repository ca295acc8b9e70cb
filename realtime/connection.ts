import type { Peer } from 'crossws';
import type { ErrorCode } from '../shared/errors.ts';
import type { MessageStore } from '../shared/ports/index.ts';
import { CloseCode } from './close-codes.ts';
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
  private expiryTimer: NodeJS.Timeout | undefined;
  private holdTimer: NodeJS.Timeout | undefined;

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
  sendText(text: string): boolean {
    if (this.closing) {
      return false;
    }
    if (this.peer.bufferedAmount > this.limits.maxBufferedBytes) {
      this.onSlowConsumer();
      this.close(CloseCode.slowConsumer, 'slow consumer');
      return false;
    }
    this.peer.send(text);
    return true;
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
        (text) => this.sendText(text),
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
    this.expiresAt = expiresAtSeconds;
    clearTimeout(this.expiryTimer);
    const delay = Math.max(0, expiresAtSeconds * 1000 - Date.now());
    this.expiryTimer = setTimeout(() => this.close(CloseCode.tokenExpired, 'token expired'), delay);
    this.expiryTimer.unref();
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
    clearTimeout(this.expiryTimer);
    clearTimeout(this.holdTimer);
  }
}
