import type { JWK, JWSHeaderParameters } from 'jose';
import type { KeyObject } from 'node:crypto';
import { debug } from '../debug.js';
import { readLimited } from './read-body.js';
import { timedOut } from './provider-errors.js';
import { OpenIDError } from '../errors.js';
import { jwkSuits } from '../jws-algorithms.js';
import { importVerifyKey } from '../jwt/jws-signature.js';
import type { KeySource } from '../jwt/verify-jwt.js';

export interface KeySetOptions {
  /** Per-fetch timeout (ms). */
  timeoutMs: number;
  /** Minimum time between two fetches (ms); see {@link RemoteKeySet}. */
  cooldownMs: number;
  /** Age after which the key set is refreshed in the background (ms). */
  maxAgeMs: number;
  /** Allow an http:// JWKS URL. */
  allowInsecure: boolean;
}

const MAX_UNKNOWN_KIDS = 1000;
const MAX_JWKS_BYTES = 512 * 1024;

function usableFor(jwk: JWK, header: JWSHeaderParameters): boolean {
  const alg = header.alg!;
  return (
    (header.kid === undefined || jwk.kid === header.kid) &&
    (jwk.use === undefined || jwk.use === 'sig') &&
    (jwk.alg === undefined || jwk.alg === alg) &&
    (jwk.key_ops === undefined || (Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) &&
    jwkSuits(jwk, alg)
  );
}

/** The `#resolved` key of a header: its `kid` and `alg`. */
const lookupId = (header: JWSHeaderParameters) => `${header.kid ?? ''}\u0000${header.alg}`;

const unavailable = (url: URL, timedOut: boolean) =>
  new OpenIDError('provider_unavailable', `the provider's signing keys could not be fetched${timedOut ? ' in time' : ''}`, { url, status: timedOut ? 504 : 502 });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * The provider's signing keys, fetched from its `jwks_uri` and cached.
 *
 * The rotation rule, exactly:
 * 1. The key set is fetched on first use; fetches are shared (never two at once).
 * 2. A token whose `kid` (or, without `kid`, whose `alg`) matches no cached key causes a refetch,
 *    but never sooner than `cooldownMs` after the previous fetch: the token **waits** for that
 *    fetch (at most `cooldownMs`) and is then checked against the new keys. A provider that rotates
 *    and signs with the new key at once is therefore accepted within `cooldownMs`.
 * 3. A `kid` still unknown after a refetch fails at once for the rest of that cooldown, then may
 *    cause the next refetch (a JWKS that lags behind the signer is picked up); a flood of bogus
 *    `kid`s causes at most one fetch per `cooldownMs`.
 * 4. Once the key set is older than `maxAgeMs` it is refreshed in the background (same cooldown),
 *    so removed keys stop being accepted. A failed fetch keeps the previous keys: tokens keep
 *    verifying from the cache while the provider is unreachable. While the first fetch keeps
 *    failing, it is retried at most once per `cooldownMs` too.
 * 5. A key that cannot be imported (malformed JWK) is skipped.
 */
export class RemoteKeySet implements KeySource {
  readonly url: URL;
  readonly #opts: KeySetOptions;
  #keys: JWK[] | undefined;
  #fetchedAt = 0;
  #inflight: Promise<void> | undefined;
  /** Imported keys per JWK and algorithm; `null` for a JWK that cannot be used for that algorithm. */
  readonly #imported = new WeakMap<JWK, Map<string, KeyObject | null>>();
  readonly #unknown = new Map<string, number>();
  /** Imported keys by kid + alg for the current key set: the per-token lookup without filtering. */
  #resolved = new Map<string, KeyObject[]>();
  /** How many fetches were started (for diagnostics and tests). */
  fetches = 0;

  constructor(url: URL, opts: KeySetOptions) {
    if (url.protocol !== 'https:' && !(opts.allowInsecure && url.protocol === 'http:')) {
      throw new OpenIDError('discovery_failed', 'the provider\'s "jwks_uri" must be an https URL');
    }
    this.url = url;
    this.#opts = opts;
  }

  /**
   * The keys already known for this header, synchronously, or `undefined` when
   * {@link candidates} must be asked (first use, unknown `kid`, or a key set due for a refresh).
   */
  known(header: JWSHeaderParameters): KeyObject[] | undefined {
    if (Date.now() - this.#fetchedAt > this.#opts.maxAgeMs) return undefined;
    return this.#resolved.get(lookupId(header));
  }

  /** The keys that may have signed a JWS with this header (usually one). */
  async candidates(header: JWSHeaderParameters): Promise<KeyObject[]> {
    if (!this.#keys) {
      // While the very first fetch keeps failing, the provider is asked at most once per cooldown.
      if (this.#fetchedAt && !this.#inflight && Date.now() - this.#fetchedAt < this.#opts.cooldownMs) throw unavailable(this.url, this.#timedOut);
      await this.#refresh(0);
      if (!this.#keys) throw unavailable(this.url, this.#timedOut);
    }
    if (Date.now() - this.#fetchedAt > this.#opts.maxAgeMs) {
      this.#refresh(this.#opts.cooldownMs).catch(() => {});
    }
    const id = lookupId(header);
    const known = this.#resolved.get(id);
    if (known) return known;
    let found = this.#keys.filter((k) => usableFor(k, header));
    if (found.length === 0) {
      // Already looked up in the current key set, which is younger than the cooldown: fail at once.
      if (this.#unknown.get(id) === this.#fetchedAt && Date.now() - this.#fetchedAt < this.#opts.cooldownMs) return [];
      await this.#refresh(this.#opts.cooldownMs);
      found = this.#keys.filter((k) => usableFor(k, header));
      if (found.length === 0) {
        if (this.#unknown.size >= MAX_UNKNOWN_KIDS) this.#unknown.clear();
        this.#unknown.set(id, this.#fetchedAt);
        return [];
      }
    }
    // A key that cannot be imported (a malformed JWK, a short RSA key) is skipped, never an error of ours.
    const usable = found.flatMap((jwk) => this.#import(jwk, header.alg!) ?? []);
    if (usable.length) this.#resolved.set(id, usable);
    return usable;
  }

  /** The `issuer` member of the JWKs keys came from, when they have one (Entra ID's keys do). */
  readonly #issuers = new WeakMap<KeyObject, unknown>();

  issuerOf(key: KeyObject): unknown {
    return this.#issuers.get(key);
  }

  #import(jwk: JWK, alg: string): KeyObject | null {
    let byAlg = this.#imported.get(jwk);
    if (!byAlg) this.#imported.set(jwk, (byAlg = new Map()));
    let key = byAlg.get(alg);
    if (key === undefined) {
      try {
        key = importVerifyKey(jwk, alg);
        const { issuer } = jwk as { issuer?: unknown };
        if (issuer !== undefined) this.#issuers.set(key, issuer);
      } catch (err) {
        debug('JWKS key %s cannot be used for %s: %s', jwk.kid ?? '(no kid)', alg, (err as Error).message);
        key = null;
      }
      byAlg.set(alg, key);
    }
    return key;
  }

  /** Fetches the key set no sooner than `cooldownMs` after the previous fetch; concurrent callers share it. */
  #refresh(cooldownMs: number): Promise<void> {
    if (!this.#inflight) {
      const wait = Math.max(0, this.#fetchedAt + cooldownMs - Date.now());
      this.#inflight = (wait > 0 ? sleep(wait) : Promise.resolve())
        .then(() => this.#fetch())
        .finally(() => {
          this.#inflight = undefined;
        });
    }
    return this.#inflight;
  }

  /** The last fetch failed by its timeout (a 504, not a 502). */
  #timedOut = false;

  async #fetch(): Promise<void> {
    this.fetches++;
    try {
      const res = await fetch(this.url, {
        headers: { accept: 'application/json, application/jwk-set+json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.#opts.timeoutMs),
      });
      if (res.status !== 200) throw new Error(`JWKS answered HTTP ${res.status}`);
      // The limit applies while reading: a hostile jwks_uri cannot make us buffer more.
      const text = await readLimited(res, MAX_JWKS_BYTES);
      if (text === undefined) throw new Error('JWKS too large');
      const body = JSON.parse(text) as { keys?: unknown };
      if (!Array.isArray(body?.keys)) throw new Error('JWKS has no "keys" array');
      // Symmetric ("oct") keys never belong in a provider's public key set: ignore them.
      this.#resolved = new Map();
      this.#keys = body.keys.filter(
        (k): k is JWK => typeof k === 'object' && k !== null && ['RSA', 'EC', 'OKP'].includes((k as JWK).kty as string),
      );
      debug('JWKS fetched from %s: %d keys', this.url.origin, this.#keys.length);
      this.#timedOut = false;
    } catch (err) {
      this.#timedOut = timedOut(err);
      debug('JWKS fetch from %s failed: %s', this.url.origin, (err as Error).message);
    } finally {
      // Failures count too: an unreachable provider is not asked more often than once per cooldown.
      this.#fetchedAt = Date.now();
    }
  }
}
