import { hash, verify } from '@node-rs/argon2';
import { AppError } from '../errors.ts';

/** OWASP minimum for argon2id: 19 MiB of memory, two passes, one lane. */
const ARGON2ID_OPTIONS = {
  // Algorithm.Argon2id; the package exports it as a const enum, which isolated modules cannot read.
  algorithm: 2,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(passwordHash: string, password: string): Promise<boolean>;
  /** Spends the same time as a real verification, so unknown usernames are not revealed. */
  verifyNothing(password: string): Promise<void>;
}

export interface PasswordHasherOptions {
  /** Hashes running at once; each holds ~19 MiB and one core for ~15 ms. */
  concurrency: number;
  /** Hashes allowed to wait; beyond it requests fail fast with `over_capacity`. */
  maxQueued: number;
}

/**
 * argon2id with bounded concurrency: a login flood queues (then is refused) instead of
 * exhausting memory and starving every other request of CPU.
 */
export function createPasswordHasher(options: PasswordHasherOptions): PasswordHasher {
  let running = 0;
  const waiting: Array<() => void> = [];

  async function bounded<T>(work: () => Promise<T>): Promise<T> {
    if (running >= options.concurrency) {
      if (waiting.length >= options.maxQueued) {
        throw new AppError('over_capacity', 'too many logins at once, retry shortly', 1);
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) {
        next();
      } else {
        running--;
      }
    }
  }

  let decoy: Promise<string> | undefined;

  return {
    hash: (password) => bounded(() => hash(password, ARGON2ID_OPTIONS)),
    verify: (passwordHash, password) =>
      bounded(() => verify(passwordHash, password).catch(() => false)),
    async verifyNothing(password) {
      decoy ??= hash('decoy password that matches nothing', ARGON2ID_OPTIONS);
      const decoyHash = await decoy;
      await bounded(() => verify(decoyHash, password).catch(() => false));
    },
  };
}
