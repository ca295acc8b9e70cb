/** A token bucket: `ratePerSecond` sustained, `burst` at once. Time comes from `now` (ms). */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.updatedAt = now();
  }

  take(): boolean {
    const at = this.now();
    this.tokens = Math.min(
      this.burst,
      this.tokens + ((at - this.updatedAt) / 1000) * this.ratePerSecond,
    );
    this.updatedAt = at;
    if (this.tokens < 1) {
      return false;
    }
    this.tokens -= 1;
    return true;
  }
}
