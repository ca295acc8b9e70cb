import { argon2idAsync } from '@noble/hashes/argon2.js';

/**
 * argon2id in plain JavaScript (no native addon, no WebAssembly compiled at run time), for
 * runtimes that allow neither, such as Cloudflare Workers. It offers the two calls of
 * `@node-rs/argon2` that `passwords.ts` makes, with the same PHC string format
 * (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`, unpadded base64), so a hash written by one
 * implementation verifies with the other. The edge build substitutes this module for the native
 * one; the Node build never loads it. It is about 15 times slower than the native addon (about
 * 250 ms per hash at OWASP cost on one core here).
 */

export interface Argon2idOptions {
  /** Must be 2 (argon2id); the native package's `Algorithm.Argon2id`. */
  algorithm?: number;
  /** Memory in KiB. */
  memoryCost?: number;
  timeCost?: number;
  parallelism?: number;
  outputLen?: number;
}

const ARGON2ID = 2;
const VERSION = 19;
const SALT_BYTES = 16;
/** The native package's defaults, so a call with no options hashes the same way on both. */
const DEFAULTS = { memoryCost: 19_456, timeCost: 2, parallelism: 1, outputLen: 32 };
/** Bounds on what a stored hash may ask for, so a corrupt row cannot claim gigabytes. */
const MAX_MEMORY_KIB = 262_144;
const MAX_TIME_COST = 16;
const ASYNC_TICK_MS = 10;

const encoder = new TextEncoder();

export async function hash(password: string, options: Argon2idOptions = {}): Promise<string> {
  if (options.algorithm !== undefined && options.algorithm !== ARGON2ID) {
    throw new TypeError('argon2id-web hashes with argon2id only');
  }
  const params = {
    m: options.memoryCost ?? DEFAULTS.memoryCost,
    t: options.timeCost ?? DEFAULTS.timeCost,
    p: options.parallelism ?? DEFAULTS.parallelism,
  };
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const digest = await derive(password, salt, params, options.outputLen ?? DEFAULTS.outputLen);
  return (
    `$argon2id$v=${VERSION}$m=${params.m},t=${params.t},p=${params.p}` +
    `$${toBase64(salt)}$${toBase64(digest)}`
  );
}

/** True when `password` matches the PHC string; false for a mismatch. Throws on a bad string. */
export async function verify(phc: string, password: string): Promise<boolean> {
  const parsed = parsePhc(phc);
  const digest = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  return constantTimeEqual(digest, parsed.hash);
}

interface Params {
  m: number;
  t: number;
  p: number;
}

function derive(password: string, salt: Uint8Array, params: Params, length: number) {
  // The async form yields to the event loop every few milliseconds, so one hash does not stall
  // every other request of the isolate for a quarter of a second.
  return argon2idAsync(encoder.encode(password), salt, {
    ...params,
    dkLen: length,
    version: VERSION,
    asyncTick: ASYNC_TICK_MS,
  });
}

const PHC =
  /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function parsePhc(phc: string): { params: Params; salt: Uint8Array; hash: Uint8Array } {
  const match = PHC.exec(phc);
  if (!match) {
    throw new TypeError('not an argon2id v19 PHC string');
  }
  const [, m, t, p, salt, digest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const params = { m: Number(m), t: Number(t), p: Number(p) };
  if (params.m > MAX_MEMORY_KIB || params.t > MAX_TIME_COST || params.t < 1 || params.p < 1) {
    throw new TypeError('argon2id parameters out of range');
  }
  return { params, salt: fromBase64(salt), hash: fromBase64(digest) };
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    difference |= a[i]! ^ b[i]!;
  }
  return difference === 0;
}

/** Standard base64 without padding, as PHC strings spell it. */
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary).replace(/=+$/, '');
}

function fromBase64(text: string): Uint8Array {
  const padded = text + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
}
