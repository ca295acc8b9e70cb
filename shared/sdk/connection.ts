import { backoffDelayMs, type BackoffOptions } from './backoff.ts';
import { isSessionEnded } from './errors.ts';
import { expiryToMs, renewDelayMs, tokenExpiryMs } from './expiry.ts';
import { encodeClientFrame, parseServerFrame } from './frames.ts';
import type { ClientFrame, HelloFrame, ServerFrame } from './types.ts';

/**
 * Handler types are declared through a method so they compare bivariantly: the DOM WebSocket
 * and the `ws` package type their events differently, and both must fit.
 */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** The part of the WebSocket API the SDK uses; the browser's and `ws`'s both satisfy it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}

export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => WebSocketLike;

export const CLOSE_CODES = {
  goingAway: 1001,
  messageTooBig: 1009,
  internalError: 1011,
  tokenExpired: 4001,
  tokenRevoked: 4003,
  slowConsumer: 4008,
  /** Used by the client itself when the server stopped answering heartbeats. */
  heartbeatTimeout: 4000,
} as const;

/** `open` means the server's hello arrived; `waiting` is the pause before a reconnect. */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped';

/** Why the connection gave up for good: logged out elsewhere, or the refresh token is dead. */
export type StopReason = 'closed' | 'revoked' | 'session_ended';

export interface RealtimeOptions {
  /** The `/ws` endpoint without the token, e.g. `ws://localhost:8080/ws`. */
  url: string;
  WebSocket?: WebSocketConstructor;
  /** The access token to connect with; read again on every attempt. */
  getAccessToken: () => string | undefined;
  /**
   * Obtains a new access token (and makes getAccessToken return it). Used on close 4001, for
   * in-band `auth` before the connection's expiry, and when attempts fail before the upgrade.
   */
  refreshAccessToken?: () => Promise<string>;
  backoff?: BackoffOptions;
  /**
   * Promise the server a `sync` right after the hello (`sync=1`): it then holds live events
   * until that sync, so nothing sent in between overtakes the replay.
   */
  syncOnConnect?: boolean;
  onHello?: (hello: HelloFrame) => void;
  onFrame?: (frame: ServerFrame) => void;
  onStateChange?: (state: ConnectionState) => void;
  onStop?: (reason: StopReason) => void;
  now?: () => number;
}

const OPEN = 1;
const DEFAULT_HEARTBEAT_MS = 30_000;

/**
 * One logical realtime connection: a WebSocket that is replaced after every loss, with jittered
 * exponential backoff, until `stop()` or a close that means the login is gone (4003).
 */
export class RealtimeConnection {
  #options: RealtimeOptions;
  #WebSocket: WebSocketConstructor;
  #socket: WebSocketLike | null = null;
  #state: ConnectionState = 'idle';
  /** Consecutive failed attempts; reset by a hello. */
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #lastFrameAt = 0;
  #needsRefresh = false;
  #lastExpiredCloseAt = -Infinity;
  /** Bumped by every attempt and by stop(), so an attempt that awaited a refresh can tell it
   * was superseded. */
  #epoch = 0;

  constructor(options: RealtimeOptions) {
    const ctor = options.WebSocket ?? (globalThis.WebSocket as WebSocketConstructor | undefined);
    if (typeof ctor !== 'function') {
      throw new TypeError('RealtimeConnection needs a WebSocket constructor');
    }
    this.#options = options;
    this.#WebSocket = ctor;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  start(): void {
    if (this.#state === 'idle' || this.#state === 'stopped') {
      void this.#connect();
    }
  }

  /** Writes a frame if the connection is open; false means the caller must keep it for later. */
  send(frame: ClientFrame): boolean {
    const socket = this.#socket;
    if (this.#state !== 'open' || !socket || socket.readyState !== OPEN) {
      return false;
    }
    socket.send(encodeClientFrame(frame));
    return true;
  }

  /** Skips the remaining backoff (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this.#state === 'waiting') {
      clearTimeout(this.#retryTimer);
      void this.#connect();
    }
  }

  stop(reason: StopReason = 'closed'): void {
    this.#finish(reason);
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  #setState(state: ConnectionState): void {
    if (this.#state !== state) {
      this.#state = state;
      this.#options.onStateChange?.(state);
    }
  }

  async #connect(): Promise<void> {
    const epoch = ++this.#epoch;
    this.#setState('connecting');
    let token = this.#options.getAccessToken();
    const expiresAt = token ? tokenExpiryMs(token) : undefined;
    const stale = expiresAt !== undefined && expiresAt - this.#now() < 5_000;
    if (this.#options.refreshAccessToken && (!token || stale || this.#needsRefresh)) {
      token = await this.#refresh(epoch);
      if (token === undefined) {
        return;
      }
    }
    if (epoch !== this.#epoch) {
      return; // stopped or superseded while refreshing
    }
    const separator = this.#options.url.includes('?') ? '&' : '?';
    const sync = this.#options.syncOnConnect ? '&sync=1' : '';
    const url = `${this.#options.url}${separator}access_token=${encodeURIComponent(token ?? '')}${sync}`;
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocket(url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    let helloSeen = false;
    socket.onmessage = (event) => {
      if (this.#socket !== socket) {
        return;
      }
      const frame = parseServerFrame(event.data);
      this.#lastFrameAt = this.#now();
      if (!frame) {
        return;
      }
      if (frame.type === 'hello') {
        helloSeen = true;
        this.#onHello(frame);
        return;
      }
      if (frame.type === 'authed') {
        this.#scheduleRenew(expiryToMs(frame.expiresAt));
      }
      this.#options.onFrame?.(frame);
    };
    socket.onclose = (event) => {
      if (this.#socket === socket) {
        this.#onClose(event.code, helloSeen);
      }
    };
    // Errors are always followed by a close event, which does the work.
    socket.onerror = () => {};
  }

  #onHello(hello: HelloFrame): void {
    this.#attempt = 0;
    this.#needsRefresh = false;
    this.#setState('open');
    this.#startHeartbeat(hello.heartbeatMs > 0 ? hello.heartbeatMs : DEFAULT_HEARTBEAT_MS);
    this.#scheduleRenew(expiryToMs(hello.expiresAt));
    this.#options.onHello?.(hello);
  }

  #onClose(code: number, helloSeen: boolean): void {
    this.#detach();
    if (this.#state === 'stopped') {
      return;
    }
    if (code === CLOSE_CODES.tokenRevoked) {
      this.#finish('revoked');
      return;
    }
    if (code === CLOSE_CODES.tokenExpired) {
      this.#needsRefresh = true;
      // Refresh and come back at once, unless the last expiry close was moments ago (a clock
      // skew would otherwise turn this into a tight loop): then back off like any failure.
      const now = this.#now();
      const recent = now - this.#lastExpiredCloseAt < 10_000;
      this.#lastExpiredCloseAt = now;
      if (!recent) {
        void this.#connect();
        return;
      }
    }
    // A refused upgrade (401 for an expired token) reaches browsers as a bare 1006: after two
    // attempts that never got a hello, refresh the token before trying again.
    if (!helloSeen && this.#attempt >= 1) {
      this.#needsRefresh = true;
    }
    this.#scheduleRetry();
  }

  async #refresh(epoch: number): Promise<string | undefined> {
    const refresher = this.#options.refreshAccessToken;
    if (!refresher) {
      return this.#options.getAccessToken();
    }
    try {
      const token = await refresher();
      this.#needsRefresh = false;
      return token;
    } catch (error) {
      if (epoch !== this.#epoch) {
        return undefined;
      }
      if (isSessionEnded(error)) {
        this.#finish('session_ended');
      } else {
        this.#scheduleRetry();
      }
      return undefined;
    }
  }

  #scheduleRetry(): void {
    if (this.#state === 'stopped') {
      return;
    }
    this.#setState('waiting');
    const delay = backoffDelayMs(this.#attempt, this.#options.backoff);
    this.#attempt++;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.#connect(), delay);
  }

  #startHeartbeat(heartbeatMs: number): void {
    clearInterval(this.#heartbeatTimer);
    this.#lastFrameAt = this.#now();
    this.#heartbeatTimer = setInterval(() => {
      const socket = this.#socket;
      if (!socket) {
        return;
      }
      if (this.#now() - this.#lastFrameAt > 2 * heartbeatMs + 1_000) {
        // A half-open TCP connection may never deliver a close event: give up on it here.
        socket.close(CLOSE_CODES.heartbeatTimeout, 'heartbeat timeout');
        this.#onClose(CLOSE_CODES.heartbeatTimeout, true);
        return;
      }
      this.send({ type: 'ping' });
    }, heartbeatMs);
  }

  #scheduleRenew(expiresAtMs: number | undefined): void {
    clearTimeout(this.#renewTimer);
    const refresher = this.#options.refreshAccessToken;
    if (expiresAtMs === undefined || !refresher) {
      return;
    }
    this.#renewTimer = setTimeout(
      async () => {
        try {
          const accessToken = await refresher();
          this.send({ type: 'auth', accessToken, ref: 'auth' });
        } catch {
          // The server closes with 4001 at expiry; the reconnect path refreshes again.
        }
      },
      renewDelayMs(expiresAtMs, this.#now()),
    );
  }

  #detach(): void {
    const socket = this.#socket;
    this.#socket = null;
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#renewTimer);
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
    }
  }

  #finish(reason: StopReason): void {
    if (this.#state === 'stopped') {
      return;
    }
    const socket = this.#socket;
    this.#epoch++;
    this.#detach();
    clearTimeout(this.#retryTimer);
    this.#setState('stopped');
    if (socket && socket.readyState <= OPEN) {
      socket.close(1000, 'client stopped');
    }
    this.#options.onStop?.(reason);
  }
}
