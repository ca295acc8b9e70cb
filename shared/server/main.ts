import { loadConfig } from '../config.ts';
import { startStandalone } from './standalone.ts';

const standalone = await startStandalone(loadConfig());
console.log(`ATLAS listening on ${standalone.url}`);

let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    signals++;
    if (signals > 1) {
      process.exit(1);
    }
    standalone.services.logger.info({ signal }, 'shutting down');
    standalone.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        standalone.services.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
