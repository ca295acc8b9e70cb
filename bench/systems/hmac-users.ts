import { SignJWT } from 'jose';
import { newId } from '../../shared/ids.ts';

/** Users of the peers: ids with HS256 tokens, which both peers verify at connect. */
export async function hmacUsers(
  secret: string,
  count: number,
  ttlSeconds: number,
): Promise<Array<{ id: string; token: string }>> {
  const key = new TextEncoder().encode(secret);
  const users: Array<{ id: string; token: string }> = [];
  for (let i = 0; i < count; i++) {
    const id = newId();
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(id)
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(key);
    users.push({ id, token });
  }
  return users;
}
