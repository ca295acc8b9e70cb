import { loadConfig } from '../config.ts';
import { isRole, ROLES, type Role } from './roles.ts';
import { startStandalone } from './standalone.ts';

// `npm start` runs every role; `npm start -- realtime` (or auth, users, chat) runs only those.
const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !isRole(name));
if (unknown.length > 0) {
  console.error(`unknown role ${unknown.join(', ')}; roles are ${ROLES.join(', ')}`);
  process.exit(2);
}
const roles: readonly Role[] = requested.length > 0 ? (requested as Role[]) : ROLES;

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

let standalone: Awaited<ReturnType<typeof startStandalone>>;
try {
  standalone = await startStandalone(config, { roles, web: requested.length === 0 });
} catch (error) {
  // Start-up failures are configuration or environment problems: one line, not a stack trace.
  console.error(`ATLAS could not start: ${describeStartFailure(error)}`);
  process.exit(1);
}
console.log(`ATLAS listening on ${standalone.url} (${roles.join(', ')})`);

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

function describeStartFailure(error: unknown): string {
  const parts: string[] = [];
  for (let cause = error; cause instanceof Error && parts.length < 3; cause = cause.cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    parts.push(
      code && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message,
    );
  }
  return parts.length > 0 ? parts.join(': ') : String(error);
}
