/**
 * The bench's RS256 keys and access tokens. Every token is distinct (its own `sub` and `jti`), so a
 * verified-token cache never hits. RS256 signing costs ~0.3 ms per token per core, so a pool of
 * 100k+ tokens is signed in worker threads on every core before anything is measured.
 */
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { cpus } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { JWK } from 'jose';

export const ISSUER = 'https://op.bench.example';
export const AUDIENCE = 'api';
export const KID = 'bench-rs256';

export interface BenchKeys {
  /** PKCS#8 PEM (stays in the bench processes). */
  privatePem: string;
  /** The public key as a JWK with `kid`, `alg`, `use`: what a provider's JWKS holds. */
  publicJwk: JWK;
}

export function generateKeys(): BenchKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: KID, alg: 'RS256', use: 'sig' },
  };
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs tokens number `from` to `to - 1` (RS256: RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3). */
function signRange(privatePem: string, from: number, to: number, now: number): string[] {
  const key = createPrivateKey(privatePem);
  const header = b64({ alg: 'RS256', typ: 'JWT', kid: KID });
  const out: string[] = [];
  for (let n = from; n < to; n++) {
    const payload = b64({
      iss: ISSUER,
      sub: `user-${n}`,
      aud: AUDIENCE,
      azp: 'bench-client',
      scope: 'openid read',
      iat: now,
      exp: now + 3600,
      jti: `bench-${n}`,
    });
    const input = `${header}.${payload}`;
    out.push(`${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`);
  }
  return out;
}

const TS_WORKER = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => tsx.tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`;

/** Signs `count` distinct tokens numbered from `first`, split over one worker thread per core. */
export async function signTokens(keys: BenchKeys, first: number, count: number): Promise<string[]> {
  const threads = Math.max(1, Math.min(cpus().length, Math.ceil(count / 1000)));
  const now = Math.floor(Date.now() / 1000);
  const per = Math.ceil(count / threads);
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, i) => {
      const from = first + i * per;
      const to = Math.min(first + count, from + per);
      return new Promise<string[]>((resolve, reject) => {
        // Node 20 does not run a worker's entry file through tsx's loader: load it with tsx's API.
        const worker = new Worker(TS_WORKER, {
          eval: true,
          workerData: { privatePem: keys.privatePem, from, to, now },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    }),
  );
  return parts.flat();
}

if (!isMainThread && parentPort) {
  const { privatePem, from, to, now } = workerData as { privatePem: string; from: number; to: number; now: number };
  parentPort.postMessage(signRange(privatePem, from, to, now));
}
