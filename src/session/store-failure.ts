import type { Context, Middleware } from 'koa';
import { OpenIDError } from '../errors.js';
import { reportServerError, sendPage, wantsHtml } from '../respond.js';
import type { SessionStore } from './store.js';

const failed = (err: unknown) =>
  err instanceof OpenIDError ? err : new OpenIDError('session_unavailable', 'the session store is not available', { cause: err });

/**
 * The store with every failure turned into `session_unavailable` (503): a Redis that is down or
 * refuses is the app's dependency failing, never the visitor's fault. Other properties (koa-redis's
 * `client`) stay reachable.
 */
export function failingClearly(store: SessionStore): SessionStore {
  const guarded: SessionStore & { client?: unknown } = {
    get: (...args) => Promise.resolve().then(() => store.get(...args)).catch((err) => Promise.reject(failed(err))),
    set: (...args) => Promise.resolve().then(() => store.set(...args)).catch((err) => Promise.reject(failed(err))),
    destroy: (...args) => Promise.resolve().then(() => store.destroy(...args)).catch((err) => Promise.reject(failed(err))),
  };
  if (typeof store.claim === 'function') {
    guarded.claim = (id, ttl) => Promise.resolve().then(() => store.claim!(id, ttl)).catch((err) => Promise.reject(failed(err)));
  }
  const client = (store as { client?: unknown }).client;
  if (client !== undefined) guarded.client = client;
  return guarded;
}

/** Answers a `session_unavailable` failure with 503 (a page or JSON) and reports it as a Koa `error` event. */
export function answeringStoreFailures(sessions: Middleware): Middleware {
  return async (ctx: Context, next) => {
    try {
      await sessions(ctx, next);
    } catch (err) {
      if (!(err instanceof OpenIDError && err.code === 'session_unavailable')) throw err;
      ctx.status = err.status;
      ctx.set('Retry-After', '5');
      if (wantsHtml(ctx)) sendPage(ctx, 'Temporarily unavailable', 'Sessions cannot be reached right now. Please try again in a moment.');
      else {
        ctx.set('Cache-Control', 'no-store');
        ctx.body = err.toJSON();
      }
      reportServerError(ctx, err);
    }
  };
}
