import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buildWebAssets } from '../web/build.ts';

/**
 * Writes the web client (the same bundle the all-roles process serves from memory) into a
 * folder, for the NGINX gateways to serve as static files.
 * usage: node --import tsx local/build-web.ts OUT_DIR
 */
const out = process.argv[2];
if (!out) {
  console.error('usage: build-web.ts OUT_DIR');
  process.exit(2);
}
const assets = await buildWebAssets();
await rm(out, { recursive: true, force: true });
for (const [path, asset] of assets) {
  const file = join(out, path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, asset.body);
}
console.log(`web client: ${assets.size} files in ${out}`);
