import type { Context, Middleware } from 'koa';
import { OpenIDError } from '../errors.js';
import { answerError } from '../error-page.js';
import { reportServerError } from '../respond.js';
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

const METHODS = ['read', 'change', 'take', 'destroy', 'fieldsWithPrefix', 'indexAdd', 'indexMembers', 'indexRemove'] as const;

/**
 * The store with every failure turned into `session_unavailable` (503), and every call bounded by
 * `timeoutMs`: a Redis that is down, stalled or refusing is the app's dependency failing, never the
 * visitor's fault, and no request waits on it longer than that (whatever the client's own retry
 * settings).
 */
export function failingClearly(store: SessionStore, timeoutMs: number): SessionStore {
  const outage = new Outage();
  const bounded = <T>(call: () => Promise<T>): Promise<T> => {
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
  const guarded = { prefix: store.prefix } as Record<string, unknown>;
  for (const name of METHODS) {
    const method = store[name] as (...args: unknown[]) => Promise<unknown>;
    guarded[name] = (...args: unknown[]) => bounded(() => method.apply(store, args));
  }
  return guarded as unknown as SessionStore;
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
