import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

/** The function apps that run on the edge; chat needs Kafka and Cassandra (TCP) and does not. */
export const EDGE_FUNCTIONS = ['auth', 'users'] as const;
export type EdgeFunction = (typeof EDGE_FUNCTIONS)[number];

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Bundles each edge entry into one ES module for Cloudflare Workers (workerd), at
 * `<outDir>/<name>.js`. Node's built-in modules stay imports, served by the runtime's
 * `nodejs_compat` flag; the native argon2 addon is replaced by the web implementation with the
 * same calls and hash format; packages with a browser build (pino) use it.
 */
export async function buildEdgeBundles(outDir: string): Promise<Record<EdgeFunction, string>> {
  const result = await build({
    entryPoints: Object.fromEntries(
      EDGE_FUNCTIONS.map((name) => [name, join(ROOT, 'functions', name, 'edge.ts')]),
    ),
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['node:*', ...builtinModules],
    alias: { '@node-rs/argon2': join(ROOT, 'shared/auth/argon2id-web.ts') },
    define: { 'process.env.NODE_ENV': '"production"' },
    // CommonJS packages (prom-client) call require() for Node built-ins; workerd's node:module
    // provides it.
    banner: {
      js: "import { createRequire as createRequireForBundle } from 'node:module';\nconst require = createRequireForBundle('/');",
    },
    metafile: true,
    logLevel: 'warning',
  });
  assertNoNodeOnlyPackages(result.metafile);
  return Object.fromEntries(
    EDGE_FUNCTIONS.map((name) => [name, join(outDir, `${name}.js`)]),
  ) as Record<EdgeFunction, string>;
}

/** Packages that open TCP sockets or load native code; one of them in a bundle is a bug. */
const NODE_ONLY = [
  'pg',
  'ioredis',
  'kafkajs',
  'cassandra-driver',
  '@node-rs/argon2',
  '@electric-sql/pglite',
];

function assertNoNodeOnlyPackages(metafile: Metafile): void {
  const found = Object.keys(metafile.inputs).filter((input) =>
    NODE_ONLY.some((name) => input.includes(`node_modules/${name}/`)),
  );
  if (found.length > 0) {
    throw new Error(`the edge bundle pulls in Node-only code: ${found.slice(0, 5).join(', ')}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? join(ROOT, 'dist/edge'));
  const bundles = await buildEdgeBundles(outDir);
  console.log(Object.values(bundles).join('\n'));
}
