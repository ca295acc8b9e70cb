import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { authed, frontDoor, registerUser, type FrontUser } from './support/front-door.ts';
import { loadTopology } from './support/topology.ts';

const topology = loadTopology();

interface Answer {
  status: number;
  retryAfter: string | null;
  contentType: string | null;
  code: string | undefined;
}

async function post(user: Pick<FrontUser, 'door'>, path: string, body: unknown): Promise<Answer> {
  const response = await user.door.fetch(`${topology.frontUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = `not json: ${text.slice(0, 60)}`;
  }
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    contentType: response.headers.get('content-type'),
    code,
  };
}

describe('rate limits at the gateways', () => {
  const doors: Array<{ close(): void }> = [];
  after(() => doors.forEach((door) => door.close()));

  it('a login storm from one client gets 429s while other users are unaffected', async () => {
    const stormer = await registerUser(topology, 'storm');
    const bystander = await registerUser(topology, 'bystander');
    doors.push(stormer.door, bystander.door);
    const credentials = { username: stormer.username, password: stormer.password };

    const storm = await Promise.all(
      Array.from({ length: 30 }, () => post(stormer, '/api/auth/login', credentials)),
    );
    const refused = storm.filter((answer) => answer.status === 429);
    const accepted = storm.filter((answer) => answer.status === 200);
    assert.ok(refused.length >= 20, `refused ${refused.length} of 30`);
    assert.ok(accepted.length >= 1, 'the first logins within the burst pass');
    assert.equal(refused.length + accepted.length, 30, JSON.stringify(storm));
    for (const answer of refused) {
      // The gateway's refusal (the service itself never limits correct logins).
      assert.equal(answer.code, 'rate_limited');
      assert.match(answer.contentType ?? '', /application\/json/);
      assert.ok(Number(answer.retryAfter) >= 1, `Retry-After ${answer.retryAfter}`);
    }

    // Another client logs in at once; the stormer's other API calls still pass.
    const other = await post(bystander, '/api/auth/login', {
      username: bystander.username,
      password: bystander.password,
    });
    assert.equal(other.status, 200);
    assert.equal((await authed(topology, stormer).me()).id, stormer.session.user.id);
  });

  it('registration from one address is limited the same way', async () => {
    const door = frontDoor(topology);
    doors.push(door);
    const answers = await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        post({ door }, '/api/auth/register', {
          username: `reg_${process.pid.toString(36)}_${Date.now().toString(36)}_${i}`,
          password: 'a long local password',
        }),
      ),
    );
    const refused = answers.filter((answer) => answer.status === 429);
    assert.ok(refused.length >= 5, `refused ${refused.length} of 15`);
    assert.ok(refused.every((answer) => answer.code === 'rate_limited' && answer.retryAfter));
    assert.ok(answers.every((answer) => answer.status === 201 || answer.status === 429));
  });
});
