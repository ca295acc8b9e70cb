import { lock } from 'proper-lockfile';
import { join } from 'node:path';
import type { Logger } from '../log.ts';

/**
 * The embedded database, log and store each assume a single writer: two processes appending to
 * the same files would hand out the same seq twice and lose an acked message. Every process that
 * opens embedded state holds this lock on the data directory for as long as it runs.
 *
 * The lock is a directory refreshed every `STALE_MS / 5`; a holder that died (SIGKILL, power
 * loss) leaves it stale after `STALE_MS`, so a restarted process waits that long at most.
 */
const STALE_MS = 5_000;
const RETRY_EVERY_MS = 500;

export class DataDirInUseError extends Error {
  constructor(dataDir: string) {
    super(
      `data directory ${dataDir} is in use by another ATLAS process; stop it, or give this one its own ATLAS_DATA_DIR`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** Takes the data directory's lock, waiting out a stale one; returns the release function. */
export async function lockDataDir(dataDir: string, logger?: Logger): Promise<() => Promise<void>> {
  try {
    return await lock(dataDir, {
      lockfilePath: join(dataDir, '.lock'),
      stale: STALE_MS,
      update: STALE_MS / 5,
      retries: {
        retries: Math.ceil((STALE_MS * 1.5) / RETRY_EVERY_MS),
        factor: 1,
        minTimeout: RETRY_EVERY_MS,
      },
      onCompromised(error) {
        // The event loop stalled past the stale time, or something removed the lock. Stopping
        // here would turn a stall into an outage; say so loudly instead.
        logger?.error(
          { err: error, dataDir },
          'data directory lock lost; another process may take it',
        );
      },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new DataDirInUseError(dataDir);
    }
    throw error;
  }
}
