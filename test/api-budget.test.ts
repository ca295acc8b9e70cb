import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createChatApp } from '../functions/chat/app.ts';
import { USER_REQUESTS_PER_MINUTE } from '../shared/http/app.ts';
import type { Services } from '../shared/services.ts';
import { bearer, createTestServices, registerUser } from './support/services.ts';

let services: Services;
let close: () => Promise<void>;

before(async () => {
  ({ services, close } = await createTestServices());
});

after(async () => {
  await close();
});

describe('per-user request budget', () => {
  it('answers a user over the budget with 429 rate_limited and Retry-After, and spares others', async () => {
    const app = createChatApp(services);
    const flooder = await registerUser(services);
    const bystander = await registerUser(services);
    // A request that passes authentication and then fails validation costs no database work.
    const probe = (headers: Record<string, string>) =>
      app.request('/api/rooms/not-an-id', { headers });
    for (let i = 0; i < USER_REQUESTS_PER_MINUTE; i++) {
      const response = await probe(bearer(flooder));
      assert.equal(response.status, 400);
    }
    const refused = await probe(bearer(flooder));
    assert.equal(refused.status, 429);
    assert.equal(
      ((await refused.json()) as { error: { code: string } }).error.code,
      'rate_limited',
    );
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const other = await probe(bearer(bystander));
    assert.equal(other.status, 400);
  });
});
