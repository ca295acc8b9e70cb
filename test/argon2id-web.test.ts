/**
 * The web argon2id (the edge build's stand-in for the native addon) against the native
 * `@node-rs/argon2`: hashes cross-verify both ways, so accounts move freely between runtimes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as native from '@node-rs/argon2';
import * as web from '../shared/auth/argon2id-web.ts';

/** The cost passwords.ts hashes at (OWASP minimum for argon2id). */
const OWASP = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const PASSWORD = 'correct horse battery staple';

describe('argon2id-web', { timeout: 60_000 }, () => {
  it('verifies a hash made by the native addon, and refuses a wrong password', async () => {
    const made = await native.hash(PASSWORD, OWASP);
    assert.equal(await web.verify(made, PASSWORD), true);
    assert.equal(await web.verify(made, `${PASSWORD}!`), false);
  });

  it('makes hashes the native addon verifies, in the same PHC format', async () => {
    const made = await web.hash(PASSWORD, OWASP);
    assert.match(made, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.equal(await native.verify(made, PASSWORD), true);
    assert.equal(await native.verify(made, 'another password'), false);
  });

  it('salts every hash', async () => {
    const cheap = { memoryCost: 1024, timeCost: 1 };
    assert.notEqual(await web.hash(PASSWORD, cheap), await web.hash(PASSWORD, cheap));
  });

  it('rejects strings that are not argon2id, and costs no stored hash should ask for', async () => {
    await assert.rejects(
      web.verify('$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA', 'x'),
      TypeError,
    );
    await assert.rejects(
      web.verify('$argon2id$v=19$m=9999999,t=1,p=1$c2FsdHNhbHQ$aGFzaA', 'x'),
      TypeError,
    );
    await assert.rejects(web.hash(PASSWORD, { algorithm: 0 }), TypeError);
  });
});
