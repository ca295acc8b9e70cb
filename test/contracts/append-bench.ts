/**
 * Throughput of durable appends to the embedded message log (one message per append, each
 * acked after its fsync), with 1 and with 100 concurrent appenders. Not a test: run it by hand.
 *
 * Usage: node --import tsx test/contracts/append-bench.ts [durationMs=2000]
 */
import { openFileMessageLog } from '../../shared/embedded/message-log.ts';
import { chatMessage, makeTempDir, removeDir } from './helpers.ts';

const durationMs = Number(process.argv[2] ?? 2_000);

async function measure(appenders: number): Promise<void> {
  const dir = await makeTempDir('atlas-bench-');
  const log = await openFileMessageLog({ dir });
  const deadline = performance.now() + durationMs;
  let acked = 0;
  async function appender(room: number): Promise<void> {
    for (let seq = 1; performance.now() < deadline; seq++) {
      await log.append([chatMessage(`room-${room}`, seq)]);
      acked += 1;
    }
  }
  const started = performance.now();
  await Promise.all(Array.from({ length: appenders }, (_, room) => appender(room)));
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${appenders} appender(s): ${Math.round(acked / seconds)} appends/s (${acked} acked)`,
  );
  await log.close();
  await removeDir(dir);
}

await measure(1);
await measure(100);
