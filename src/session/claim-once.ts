import type { Context } from 'koa';
import { OpenIDError } from '../errors.js';

/** A koa-session store (koa-redis) as far as a claim goes: its own `claim`, or an ioredis `client`. */
interface KoaSessionStore {
  claim?(id: string, ttlMs: number): Promise<boolean>;
  client?: unknown;
}

/** An ioredis client (any version: koa-redis 4 exposes an ioredis 4 one) and its `SET key value PX ms NX`. */
interface IoredisLike {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<unknown>;
  status: string;
  options: object;
}

/** ioredis only: a node-redis client takes `set(key, value, options)` and would ignore the NX. */
const isIoredis = (client: unknown): client is IoredisLike =>
  typeof client === 'object' && client !== null &&
  typeof (client as IoredisLike).set === 'function' &&
  typeof (client as IoredisLike).status === 'string' &&
  typeof (client as IoredisLike).options === 'object';

const localClaims = new Map<string, number>();
const MAX_LOCAL = 10_000;
let warned = false;

function claimLocally(id: string, ttlMs: number): boolean {
  if (!warned) {
    warned = true;
    process.emitWarning(
      'koa-session-openid: the session store has no claim(id, ttlMs) method (and no ioredis client): a login\'s state is single use within this process only',
      { code: 'KOA_SESSION_OPENID_LOCAL_CLAIMS' },
    );
  }
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
 * The store's atomic "take once": its own `claim` method when it has one, else a `SET ... NX` on
 * its ioredis `client` (koa-redis), else `undefined`.
 */
export function storeClaim(store: KoaSessionStore): ((id: string, ttlMs: number) => Promise<boolean>) | undefined {
  if (typeof store.claim === 'function') return async (id, ttlMs) => (await store.claim!(id, ttlMs)) === true;
  const client = store.client;
  if (!isIoredis(client)) return undefined;
  return async (id, ttlMs) => (await client.set(`koa-session-openid:claim:${id}`, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
}

/**
 * Takes `id` once for `ttlMs`, for logins kept in a koa-session of the app's own (the built-in
 * sessions take a pending login out atomically themselves): `true` for the first caller, `false`
 * for every later or concurrent one. Atomic across processes through the koa-session store (see
 * {@link storeClaim}), else within this process only (with a warning). A store failure is
 * `session_unavailable` (503).
 */
export async function claimOnce(ctx: Context, id: string, ttlMs: number): Promise<boolean> {
  const store = (ctx as { sessionOptions?: { store?: KoaSessionStore } }).sessionOptions?.store;
  const claim = store && storeClaim(store);
  if (!claim) return claimLocally(id, ttlMs);
  try {
    return await claim(id, ttlMs);
  } catch (err) {
    throw err instanceof OpenIDError ? err : new OpenIDError('session_unavailable', 'the session store is not available', { cause: err });
  }
}
