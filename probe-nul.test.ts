import { it } from 'node:test';
import { createAuthApp } from './functions/auth/app.ts';
import { createTestServices } from './test/support/services.ts';
it('nul', async () => {
  const { services, close } = await createTestServices();
  const app = createAuthApp(services, { clientAddress: () => '127.0.0.1' } as never);
  const r = await app.request('/api/auth/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'nulname', password: 'correct horse battery', displayName: 'a\u0000b' }) });
  process.stderr.write(`register ${r.status} ${await r.text()}\n`);
  await close();
});
