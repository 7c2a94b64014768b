import { hash, randomBytes } from 'node:crypto';

/**
 * A session's identity in the browser's cookie: `<flag><tag><secret>`.
 *
 * - `tag` (128 random bits) names the session in the store: the Redis key is `<prefix><tag>`. It
 *   never changes during the session's life, so an index entry that points to it stays valid.
 * - `secret` (128 random bits) proves the cookie is the session's: the store keeps only its SHA-256
 *   (field `k`), compares it on every read and requires it for every write. Renewing the session id
 *   (at login) replaces the secret; a cookie planted before, or read out of a Redis dump, is useless.
 * - `flag` says whether the session holds app data (`ctx.session`): `d` when it does, so the data is
 *   loaded before the request runs (koa-session's `ctx.session` is synchronous); `a` when it does not,
 *   so a request that never asks for a login costs no Redis call at all.
 *
 * 256 random bits in all, from the CSPRNG: nothing an attacker can guess, so the cookie needs no
 * signature (see README, "Sessions").
 */
export interface SessionId {
  readonly tag: string;
  readonly secret: string;
  /** The session holds app data (`ctx.session`). */
  readonly data: boolean;
}

const PART = 22; // 16 bytes, base64url
const COOKIE = /^[ad][A-Za-z0-9_-]{44}$/;

export function newSessionId(data = false): SessionId {
  const bytes = randomBytes(32);
  return { tag: bytes.subarray(0, 16).toString('base64url'), secret: bytes.subarray(16).toString('base64url'), data };
}

/** A new secret for the same session (the id renewal at login). */
export function renewedSessionId(id: SessionId): SessionId {
  return { tag: id.tag, secret: randomBytes(16).toString('base64url'), data: id.data };
}

/** The cookie value of `id`. */
export function formatSessionId(id: SessionId): string {
  return `${id.data ? 'd' : 'a'}${id.tag}${id.secret}`;
}

/** The id in a cookie value, or `undefined` for anything else (a foreign, truncated or tampered value). */
export function parseSessionId(value: string | undefined): SessionId | undefined {
  if (value === undefined || !COOKIE.test(value)) return undefined;
  return { data: value.charCodeAt(0) === 100, tag: value.slice(1, 1 + PART), secret: value.slice(1 + PART) };
}

/** What the store keeps of the secret (field `k`). */
export function secretHash(secret: string): string {
  return hash('sha256', secret, 'base64url');
}
