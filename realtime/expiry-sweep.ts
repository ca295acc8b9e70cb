/**
 * Deadlines kept in buckets of one second and swept by one timer, for things that expire at a
 * whole second (a token's `exp`). A timer per item would cost each idle connection a timer
 * object and, since every deadline differs, a timer list of its own in Node.
 *
 * Items are called back at most about a second after their deadline; removing an item that is
 * not scheduled is harmless.
 */
export class ExpirySweep<T> {
  private readonly buckets = new Map<number, Set<T>>();
  /** Every bucket up to this second has been swept. */
  private sweptUpTo: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly onExpired: (item: T) => void,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.sweptUpTo = Math.floor(nowMs() / 1000) - 1;
  }

  get size(): number {
    let size = 0;
    for (const bucket of this.buckets.values()) {
      size += bucket.size;
    }
    return size;
  }

  /** Calls back `item` once `atSeconds` has passed (in the next sweep if it already has). */
  add(item: T, atSeconds: number): void {
    if (this.buckets.size === 0) {
      // Nothing was due meanwhile: the sweep starts from now, not from when it last ran.
      this.sweptUpTo = Math.max(this.sweptUpTo, Math.floor(this.nowMs() / 1000) - 1);
    }
    const second = Math.max(Math.floor(atSeconds), this.sweptUpTo + 1);
    let bucket = this.buckets.get(second);
    if (!bucket) {
      bucket = new Set();
      this.buckets.set(second, bucket);
    }
    bucket.add(item);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), 1_000);
      this.timer.unref();
    }
  }

  /** Forgets `item`, scheduled for `atSeconds`. */
  remove(item: T, atSeconds: number): void {
    const second = Math.max(Math.floor(atSeconds), this.sweptUpTo + 1);
    const bucket = this.buckets.get(second);
    if (bucket?.delete(item) && bucket.size === 0) {
      this.buckets.delete(second);
    }
  }

  /** Calls back everything due by now; the timer does this every second. */
  sweep(): void {
    const now = Math.floor(this.nowMs() / 1000);
    for (let second = this.sweptUpTo + 1; second <= now; second++) {
      const bucket = this.buckets.get(second);
      this.sweptUpTo = second;
      if (!bucket) {
        continue;
      }
      this.buckets.delete(second);
      for (const item of bucket) {
        this.onExpired(item);
      }
    }
    if (this.buckets.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
