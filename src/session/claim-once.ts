import type { Context } from 'koa';
import type { SessionStore } from './store.js';

/** A client that can `SET key value PX ms NX` (ioredis of any version, as koa-redis exposes it). */
interface NxClient {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<unknown>;
}

const localClaims = new Map<string, number>();
const MAX_LOCAL = 10_000;

function claimLocally(id: string, ttlMs: number): boolean {
  const now = Date.now();
  const until = localClaims.get(id);
  if (until !== undefined && until > now) return false;
  if (localClaims.size >= MAX_LOCAL) {
    for (const [k, u] of localClaims) if (u <= now) localClaims.delete(k);
    if (localClaims.size >= MAX_LOCAL) localClaims.clear();
  }
  localClaims.set(id, now + ttlMs);
  return true;
}

/**
 * Takes `id` once for `ttlMs`: `true` for the first caller, `false` for every later or concurrent
 * one. Atomic across processes through the session store: its `claim` method (the built-in stores),
 * else a `SET ... NX` on the store's ioredis `client` (koa-redis), else within this process only.
 */
export async function claimOnce(ctx: Context, id: string, ttlMs: number): Promise<boolean> {
  const store = (ctx as { sessionOptions?: { store?: SessionStore & { client?: unknown } } }).sessionOptions?.store;
  if (typeof store?.claim === 'function') return store.claim(id, ttlMs);
  const client = store?.client as Partial<NxClient> | undefined;
  if (typeof client?.set === 'function') {
    return (await client.set(`koa-session-openid:claim:${id}`, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
  }
  return claimLocally(id, ttlMs);
}
