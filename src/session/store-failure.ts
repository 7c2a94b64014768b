import type { Context } from 'koa';
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

interface Pending {
  at: number;
  expire(): void;
}

/**
 * Calls that must end by a deadline, checked by one timer for all of them (a timer per call would
 * cost every request a setTimeout and a clearTimeout). A call fails at most a tick (a quarter of
 * the timeout, 10-100 ms) after its deadline; the timer stops while nothing is pending.
 */
class Deadlines {
  readonly #pending = new Set<Pending>();
  readonly #tick: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number) {
    this.#tick = Math.min(100, Math.max(10, Math.floor(timeoutMs / 4)));
  }

  add(entry: Pending): void {
    this.#pending.add(entry);
    this.#timer ??= setInterval(() => this.#check(), this.#tick).unref();
  }

  delete(entry: Pending): void {
    this.#pending.delete(entry);
  }

  #check(): void {
    if (this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = Date.now();
    for (const entry of this.#pending) {
      if (entry.at <= now) {
        this.#pending.delete(entry);
        entry.expire();
      }
    }
  }
}

/**
 * The store with every failure turned into `session_unavailable` (503), and every call bounded by
 * `timeoutMs`: a Redis that is down, stalled or refusing is the app's dependency failing, never the
 * visitor's fault, and no request waits on it longer than that (whatever the client's own retry
 * settings).
 */
export function failingClearly(store: SessionStore, timeoutMs: number): SessionStore {
  const outage = new Outage();
  const deadlines = new Deadlines(timeoutMs);
  const bounded = <T>(call: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const entry: Pending = {
        at: Date.now() + timeoutMs,
        expire: () => reject(outage.failure(new Error(`no answer within ${timeoutMs} ms`), 'the session store did not answer in time')),
      };
      const failed = (err: unknown) => {
        deadlines.delete(entry);
        reject(outage.failure(err, 'the session store is not available'));
      };
      let promise: Promise<T>;
      try {
        promise = call();
      } catch (err) {
        failed(err);
        return;
      }
      deadlines.add(entry);
      promise.then((value) => {
        deadlines.delete(entry);
        outage.success();
        resolve(value);
      }, failed);
    });
  const guarded = { prefix: store.prefix } as Record<string, unknown>;
  for (const name of METHODS) {
    const method = store[name] as (...args: unknown[]) => Promise<unknown>;
    guarded[name] = (...args: unknown[]) => bounded(() => method.apply(store, args));
  }
  return guarded as unknown as SessionStore;
}

/**
 * Answers a `session_unavailable` failure with 503 (a page or JSON) and reports it as a Koa `error`
 * event (once per outage); `false` for any other error, which is not this function's to answer.
 */
export function answerStoreFailure(ctx: Context, err: unknown): boolean {
  if (!(err instanceof OpenIDError && err.code === 'session_unavailable')) return false;
  answerError(ctx, err);
  ctx.set('Retry-After', '5');
  reportServerError(ctx, err);
  return true;
}
