import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { createMemoryCache } from '../shared/embedded/cache.ts';
import { openFileMessageLog } from '../shared/embedded/message-log.ts';
import { openFileMessageStore } from '../shared/embedded/message-store.ts';
import { createMemoryPresence } from '../shared/embedded/presence.ts';
import { createMemoryBus, createMemoryPubSub } from '../shared/embedded/pubsub.ts';
import type { MemoryBus } from '../shared/embedded/pubsub.ts';
import { createMemoryRateLimiter } from '../shared/embedded/rate-limiter.ts';
import { cacheContract } from './contracts/cache.contract.ts';
import { makeTempDir, removeDir, waitUntil } from './contracts/helpers.ts';
import { messageLogContract } from './contracts/message-log.contract.ts';
import { messageStoreContract } from './contracts/message-store.contract.ts';
import { presenceContract } from './contracts/presence.contract.ts';
import { pubsubContract } from './contracts/pubsub.contract.ts';
import { rateLimiterContract } from './contracts/rate-limiter.contract.ts';

function quiet(): void {}

messageLogContract(
  'embedded file log',
  (dir) => openFileMessageLog({ dir, retryBaseMs: 5, retryMaxMs: 20, onError: quiet }),
  { durable: true },
);

messageStoreContract('embedded file store', (dir) => openFileMessageStore({ dir }), {
  durable: true,
});

const buses = new Map<string, MemoryBus>();
pubsubContract('embedded memory pubsub', async (namespace) => {
  let bus = buses.get(namespace);
  if (!bus) {
    bus = createMemoryBus();
    buses.set(namespace, bus);
  }
  return createMemoryPubSub({ bus, onError: quiet });
});

presenceContract('embedded memory presence', async (env) => createMemoryPresence(env), {
  clock: 'manual',
});

cacheContract('embedded memory cache', async ({ now }) => createMemoryCache({ now }), {
  clock: 'manual',
});

rateLimiterContract(
  'embedded memory limiter',
  async ({ now }) => createMemoryRateLimiter({ now }),
  {
    clock: 'manual',
  },
);

const crashWriter = fileURLToPath(new URL('./contracts/fixtures/crash-writer.ts', import.meta.url));

describe('embedded log and store under SIGKILL', { timeout: 60_000 }, () => {
  it('keeps every acknowledged message after the writer is killed mid-way', async (t) => {
    const dir = await makeTempDir('atlas-crash-');
    t.after(() => removeDir(dir));
    const acked = await runAndKill(dir, 300 + Math.floor(Math.random() * 700));

    const store = await openFileMessageStore({ dir });
    const stored = await store.page('room-crash', { limit: Number.MAX_SAFE_INTEGER });
    await store.close();
    const log = await openFileMessageLog({ dir, onError: quiet });
    const logged = new Set<number>();
    const consumer = await log.consume('verify', async (batch) => {
      batch.forEach((message) => logged.add(message.seq));
    });
    await waitUntil('the log is read up to the last ack', () => logged.size >= acked.size).catch(
      () => undefined,
    );
    await consumer.stop();
    await log.close();

    const storedSeqs = new Set(stored.map((message) => message.seq));
    t.diagnostic(`acked ${acked.size}, in log ${logged.size}, in store ${storedSeqs.size}`);
    assert.ok(acked.size >= 300, 'the writer acked enough before the kill');
    assert.deepEqual(
      [...acked].filter((seq) => !logged.has(seq)),
      [],
      'acked but not in log',
    );
    assert.deepEqual(
      [...acked].filter((seq) => !storedSeqs.has(seq)),
      [],
      'acked but not stored',
    );
  });
});

/** Starts the crash writer, SIGKILLs it after `acksBeforeKill` acks, returns the acked seqs. */
async function runAndKill(dir: string, acksBeforeKill: number): Promise<Set<number>> {
  const child = spawn(process.execPath, ['--import', 'tsx', crashWriter, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const acked = new Set<number>();
  let partial = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    // A line without its newline was cut by the kill: not an ack.
    partial = lines.pop() ?? '';
    lines.forEach((line) => acked.add(Number(line)));
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  try {
    await waitUntil(
      `${acksBeforeKill} acks`,
      () => acked.size >= acksBeforeKill || child.exitCode !== null,
      30_000,
    );
  } finally {
    child.kill('SIGKILL');
  }
  const [, signal] = await exited;
  assert.equal(signal, 'SIGKILL', `the writer ended before the kill: ${stderr}`);
  return acked;
}
