import { errors, jwtVerify, SignJWT, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import { AppError } from '../errors.ts';
import { isId } from '../ids.ts';
import { SIGNING_ALGORITHM } from './keys.ts';

/** Who a verified access token speaks for. */
export interface AccessClaims {
  userId: string;
  /** The login (refresh-token family) the token belongs to; logout revokes it. */
  sessionId: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export interface AccessTokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export function createAccessTokenSigner(
  privateKey: CryptoKey,
  kid: string,
  settings: AccessTokenSettings,
) {
  return async function signAccessToken(userId: string, sessionId: string): Promise<string> {
    return new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid, typ: 'at+jwt' })
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(`${settings.ttlSeconds}s`)
      .sign(privateKey);
  };
}

export type AccessTokenVerifier = (token: string) => Promise<AccessClaims>;

/**
 * Verifies signature (ES256 only), issuer, audience and expiry. Anything wrong is
 * `unauthorized`, except an otherwise valid expired token, which is `token_expired` so that
 * clients know to refresh.
 */
export function createAccessTokenVerifier(
  key: CryptoKey | JWTVerifyGetKey,
  settings: Pick<AccessTokenSettings, 'issuer' | 'audience'>,
  now: () => number = Date.now,
): AccessTokenVerifier {
  return async function verifyAccessToken(token: string): Promise<AccessClaims> {
    if (token.length === 0 || token.length > 4096) {
      throw new AppError('unauthorized', 'missing or malformed access token');
    }
    try {
      const { payload } = await jwtVerify(token, key as CryptoKey, {
        algorithms: [SIGNING_ALGORITHM],
        issuer: settings.issuer,
        audience: settings.audience,
        requiredClaims: ['exp', 'sub', 'sid'],
        currentDate: new Date(now()),
        typ: 'at+jwt',
      });
      const { sub, sid, exp } = payload;
      if (
        typeof sub !== 'string' ||
        !isId(sub) ||
        typeof sid !== 'string' ||
        !isId(sid) ||
        typeof exp !== 'number'
      ) {
        throw new AppError('unauthorized', 'access token claims are malformed');
      }
      return { userId: sub, sessionId: sid, expiresAt: exp };
    } catch (error) {
      if (error instanceof AppError) {
        throw error;
      }
      if (error instanceof errors.JWTExpired) {
        throw new AppError('token_expired', 'access token expired');
      }
      throw new AppError('unauthorized', 'invalid access token');
    }
  };
}
