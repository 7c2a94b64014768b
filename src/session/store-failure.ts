import type { Context, Middleware } from 'koa';
import { OpenIDError } from '../errors.js';
import { answerError } from '../error-page.js';
import { reportServerError } from '../respond.js';
import { storeClaim } from './claim-once.js';
import type { SessionStore } from './store.js';

/**
 * Whether the store is in an outage: the first failure starts one (it is reported as a Koa `error`
 * event), the next success ends it. Failures during an outage are answered alike, but not reported
 * again: one event per outage, not per request.
 */
class Outage {
  #on = false;

  failure(err: unknown, message: string): OpenIDError {
    if (err instanceof OpenIDError) return err;
    const ongoing = this.#on;
    this.#on = true;
    return new OpenIDError('session_unavailable', message, { cause: err, ongoing });
  }

  success(): void {
    this.#on = false;
  }
}

/**
 * The store with every failure turned into `session_unavailable` (503), and every call bounded by
 * `timeoutMs`: a Redis that is down, stalled or refusing is the app's dependency failing, never the
 * visitor's fault, and no request waits on it longer than that (whatever the client's own retry
 * settings). Its atomic `claim` is the store's own or one over its ioredis client (koa-redis); other
 * properties (koa-redis's `client`) stay reachable.
 */
export function failingClearly(store: SessionStore, timeoutMs: number): SessionStore {
  const outage = new Outage();
  const bounded = <T>(call: () => T | Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(outage.failure(new Error(`no answer within ${timeoutMs} ms`), 'the session store did not answer in time')), timeoutMs);
    });
    return Promise.race([Promise.resolve().then(call), timeout]).then(
      (value) => {
        clearTimeout(timer);
        outage.success();
        return value;
      },
      (err: unknown) => {
        clearTimeout(timer);
        throw outage.failure(err, 'the session store is not available');
      },
    );
  };
  const guarded: SessionStore & { client?: unknown } = {
    get: (...args) => bounded(() => store.get(...args)),
    set: (...args) => bounded(() => store.set(...args)),
    destroy: (...args) => bounded(() => store.destroy(...args)),
  };
  const claim = storeClaim(store);
  if (claim) guarded.claim = (id, ttl) => bounded(() => claim(id, ttl));
  const client = (store as { client?: unknown }).client;
  if (client !== undefined) guarded.client = client;
  return guarded;
}

/** Answers a `session_unavailable` failure with 503 (a page or JSON) and reports it as a Koa `error` event (once per outage). */
export function answeringStoreFailures(sessions: Middleware): Middleware {
  return async (ctx: Context, next) => {
    try {
      await sessions(ctx, next);
    } catch (err) {
      if (!(err instanceof OpenIDError && err.code === 'session_unavailable')) throw err;
      answerError(ctx, err);
      ctx.set('Retry-After', '5');
      reportServerError(ctx, err);
    }
  };
}
