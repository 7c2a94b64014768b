import { inspect } from 'node:util';
import type { RequestSession } from './request-session.js';

/**
 * `ctx.session`: the app's data (any JSON) with koa-session's methods. Data keys are the object's
 * own enumerable properties (`_`-prefixed ones and functions are not stored), as in koa-session.
 */
export class Session {
  readonly #owner: RequestSession;
  readonly #isNew: boolean;

  constructor(owner: RequestSession, data: Record<string, unknown> | undefined) {
    this.#owner = owner;
    this.#isNew = owner.isNew;
    if (data) for (const [k, v] of Object.entries(data)) (this as Record<string, unknown>)[k] = v;
  }

  /** `true` when the browser sent no valid session (as far as this request has read). */
  get isNew(): boolean {
    return this.#isNew;
  }

  /** How many keys the session holds. */
  get length(): number {
    return Object.keys(this.toJSON()).length;
  }

  /** `true` when the session holds any data. */
  get populated(): boolean {
    return this.length > 0;
  }

  /** This session's lifetime in milliseconds, or `'session'` for a browser-session cookie. Setting it saves the session. */
  get maxAge(): number | 'session' {
    return this.#owner.maxAge;
  }

  set maxAge(value: number | 'session') {
    this.#owner.maxAge = value;
  }

  /** The session id as the cookie carries it (`undefined` before the session is stored). */
  get externalKey(): string | undefined {
    return this.#owner.externalKey;
  }

  /** Saves now, even if unchanged. */
  async save(): Promise<void> {
    this.#owner.requireSave();
    await this.#owner.commit();
  }

  /**
   * Gives the session a new id (the old one stops working at once); the data and logins stay.
   * Call it when privileges change: an id planted before then stays anonymous (session fixation).
   */
  async regenerate(): Promise<void> {
    await this.#owner.regenerate();
  }

  /** Saves now what changed (the end of the request does it anyway). */
  async manuallyCommit(): Promise<void> {
    await this.#owner.commit();
  }

  /** The data that is stored. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this)) {
      if (k[0] === '_' || typeof v === 'function') continue;
      out[k] = v;
    }
    return out;
  }

  [inspect.custom](): Record<string, unknown> {
    return this.toJSON();
  }
}
