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

/** A store call in flight, as the deadline timer sees it. */
interface Expiring {
  at: number;
  expire(): void;
}

/** What every call of one guarded store shares. */
interface StoreCalls {
  readonly timeoutMs: number;
  readonly outage: Outage;
  readonly deadlines: Deadlines;
}

/** One store call in flight: it settles with the store's answer or, past its deadline, fails. */
class Pending<T> implements Expiring {
  readonly at: number;
  readonly promise: Promise<T>;
  readonly #calls: StoreCalls;
  #resolve!: (value: T) => void;
  #reject!: (err: unknown) => void;

  constructor(calls: StoreCalls, answer: Promise<T>) {
    this.at = Date.now() + calls.timeoutMs;
    this.#calls = calls;
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    answer.then(
      (value) => {
        calls.deadlines.delete(this);
        calls.outage.success();
        this.#resolve(value);
      },
      (err: unknown) => {
        calls.deadlines.delete(this);
        this.#reject(calls.outage.failure(err, 'the session store is not available'));
      },
    );
  }

  expire(): void {
    this.#reject(this.#calls.outage.failure(new Error(`no answer within ${this.#calls.timeoutMs} ms`), 'the session store did not answer in time'));
  }
}

/**
 * Calls that must end by a deadline, checked by one timer for all of them (a timer per call would
 * cost every request a setTimeout and a clearTimeout). A call fails at most a tick (a quarter of
 * the timeout, 10-100 ms) after its deadline; the timer stops while nothing is pending.
 */
class Deadlines {
  readonly #pending = new Set<Expiring>();
  readonly #tick: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number) {
    this.#tick = Math.min(100, Math.max(10, Math.floor(timeoutMs / 4)));
  }

  add(entry: Expiring): void {
    this.#pending.add(entry);
    this.#timer ??= setInterval(() => this.#check(), this.#tick).unref();
  }

  delete(entry: Expiring): void {
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
  const calls: StoreCalls = { timeoutMs, outage: new Outage(), deadlines: new Deadlines(timeoutMs) };
  const bounded = <T>(call: () => Promise<T>): Promise<T> => {
    let answer: Promise<T>;
    try {
      answer = call();
    } catch (err) {
      return Promise.reject(calls.outage.failure(err, 'the session store is not available'));
    }
    const pending = new Pending(calls, answer);
    calls.deadlines.add(pending);
    return pending.promise;
  };
  return {
    prefix: store.prefix,
    read: (tag, fields, touch) => bounded(() => store.read(tag, fields, touch)),
    change: (tag, change) => bounded(() => store.change(tag, change)),
    take: (tag, field, when, prefixes) => bounded(() => store.take(tag, field, when, prefixes)),
    destroy: (tag, when) => bounded(() => store.destroy(tag, when)),
    fieldsWithPrefix: (tag, prefixes) => bounded(() => store.fieldsWithPrefix(tag, prefixes)),
    indexAdd: (key, member, expiresAt) => bounded(() => store.indexAdd(key, member, expiresAt)),
    indexMembers: (key) => bounded(() => store.indexMembers(key)),
    indexRemove: (key, member) => bounded(() => store.indexRemove(key, member)),
    claim: (key, ttlMs, owner) => bounded(() => store.claim(key, ttlMs, owner)),
    release: (key, owner) => bounded(() => store.release(key, owner)),
  };
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
