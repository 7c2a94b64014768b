import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis the test run started (or the one REDIS_URL names). */
export function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run the tests with `npm test`, which starts a redis-server');
  return url;
}

export function newRedis(): Redis {
  return new Redis(redisUrl());
}

/** A key prefix no other test uses. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${randomBytes(6).toString('hex')}:`;
}
