/** How attempts are started: at a rate, and never more than a number unsettled at once. */
export interface Pace {
  perSecond: number;
  /**
   * Attempts started and not yet settled, at most. A system slower than the offered rate is then
   * fed as fast as it settles attempts, instead of piling up a backlog that turns into timeouts.
   */
  maxInFlight: number;
  /** Resolves by then whatever is still unsettled. */
  timeoutMs: number;
}

/** Scheduler granularity: attempts due within a tick start together. */
const TICK_MS = 10;

/**
 * Starts `start(0) .. start(count - 1)` on the pace; each is given a `settle` callback to call
 * once, when it succeeded or gave up. Resolves when all have settled or at the timeout.
 */
export function runPaced(
  count: number,
  pace: Pace,
  start: (index: number, settle: () => void) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    if (count === 0) {
      resolve();
      return;
    }
    let started = 0;
    let settled = 0;
    let inFlight = 0;
    let credit = 0;
    const perTick = (pace.perSecond * TICK_MS) / 1000;
    const finish = () => {
      clearInterval(timer);
      clearTimeout(deadline);
      resolve();
    };
    const deadline = setTimeout(finish, pace.timeoutMs);
    const timer = setInterval(() => {
      // Unused credit carries over only up to one tick's worth: a stall is not made up in a burst.
      credit = Math.min(credit + perTick, Math.max(1, perTick) * 2);
      while (credit >= 1 && inFlight < pace.maxInFlight && started < count) {
        credit -= 1;
        inFlight++;
        const index = started++;
        let done = false;
        start(index, () => {
          if (done) {
            return;
          }
          done = true;
          inFlight--;
          settled++;
          if (settled === count) {
            finish();
          }
        });
      }
    }, TICK_MS);
  });
}
