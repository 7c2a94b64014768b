export { redisSession, RedisSessionOptionsSchema, type RedisSessionOptions, type RedisSessionMiddleware } from './redis-session.js';
export { RedisStore, type RedisStoreOptions, type RedisClientLike } from './redis-store.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export type { SessionStore } from './store.js';
export type { UserSession } from './login-index.js';
export type { Session } from './session.js';
export type { KoaSession, SessionMethods } from './context-types.js';
