import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

export interface WebAsset {
  contentType: string;
  body: Uint8Array;
}

const WEB_DIR = fileURLToPath(new URL('.', import.meta.url));

const STATIC_FILES = [
  { path: '/index.html', file: 'index.html', contentType: 'text/html; charset=utf-8' },
  { path: '/style.css', file: 'style.css', contentType: 'text/css; charset=utf-8' },
  { path: '/controls.css', file: 'controls.css', contentType: 'text/css; charset=utf-8' },
] as const;

/**
 * The web client as URL path -> file: index.html, style.css, and app.js (web/app.ts bundled
 * with the SDK from shared/sdk) plus its source map. Built in memory, so the server never needs
 * a build step or a writable web/ directory. `/` is left to the caller (serve /index.html).
 */
export async function buildWebAssets(): Promise<Map<string, WebAsset>> {
  const assets = new Map<string, WebAsset>();
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./app.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: WEB_DIR,
    entryNames: 'app',
    sourcemap: 'linked',
    minify: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    const contentType = name.endsWith('.map')
      ? 'application/json; charset=utf-8'
      : 'text/javascript; charset=utf-8';
    assets.set(`/${name}`, { contentType, body: file.contents });
  }
  for (const asset of STATIC_FILES) {
    const body = await readFile(new URL(asset.file, import.meta.url));
    assets.set(asset.path, { contentType: asset.contentType, body: new Uint8Array(body) });
  }
  return assets;
}
