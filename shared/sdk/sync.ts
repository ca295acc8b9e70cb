import type { ClientFrame, SyncedRoom } from './types.ts';

type SyncFrame = Extract<ClientFrame, { type: 'sync' }>;

/**
 * The catch-up conversation after a (re)connect: `sync` with a cursor per room, and again from
 * the new cursors for every room the server did not report complete, until none is left. Pure:
 * it produces frames and consumes `synced` replies; the caller writes them to the socket.
 */
export class SyncSession {
  readonly limit: number | undefined;
  #round = 0;
  #ref: string | undefined;
  #cursors: Record<string, number> = {};
  #id: string;

  constructor(id: string, limit?: number) {
    this.#id = id;
    this.limit = limit;
  }

  /** True while a `sync` is awaiting its `synced`. */
  get active(): boolean {
    return this.#ref !== undefined;
  }

  /**
   * The first frame. Sent even without rooms: a socket opened with `sync=1` holds live events
   * until its first `sync`.
   */
  begin(cursors: Record<string, number>): SyncFrame {
    this.#cursors = { ...cursors };
    return this.#frame();
  }

  /**
   * Consumes a `synced` reply. Returns the next frame, or undefined when every room is complete
   * (check `owns` first: a reply to another session must not be fed here). A room the reply
   * leaves out (e.g. `denied`) is taken as complete; a room whose cursor did not advance is not asked again, so a server that keeps
   * saying "incomplete" without sending anything cannot loop the client forever.
   */
  accept(rooms: Record<string, SyncedRoom>): SyncFrame | undefined {
    const next: Record<string, number> = {};
    for (const [roomId, cursor] of Object.entries(this.#cursors)) {
      const state = rooms[roomId];
      if (state && !state.complete && state.lastSeq > cursor) {
        next[roomId] = state.lastSeq;
      }
    }
    this.#cursors = next;
    return this.#next();
  }

  /** Whether a reply's `ref` answers the sync round in flight. */
  owns(ref: string | undefined): boolean {
    return ref !== undefined && ref === this.#ref;
  }

  /** Abandons the session (the socket closed). */
  cancel(): void {
    this.#ref = undefined;
  }

  #next(): SyncFrame | undefined {
    if (Object.keys(this.#cursors).length === 0) {
      this.#ref = undefined;
      return undefined;
    }
    return this.#frame();
  }

  #frame(): SyncFrame {
    this.#round++;
    this.#ref = `sync:${this.#id}:${this.#round}`;
    const frame: SyncFrame = { type: 'sync', cursors: { ...this.#cursors }, ref: this.#ref };
    if (this.limit !== undefined) {
      frame.limit = this.limit;
    }
    return frame;
  }
}
