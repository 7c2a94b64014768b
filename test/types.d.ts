// koa-redis 4 ships no types (and @types/koa-redis does not compile against koa-session 7).
declare module 'koa-redis' {
  interface KoaRedisStore {
    get(key: string, maxAge?: unknown, options?: unknown): Promise<Record<string, unknown> | null | undefined>;
    set(key: string, session: Record<string, unknown>, maxAge?: unknown, options?: unknown): Promise<void>;
    destroy(key: string, options?: unknown): Promise<void>;
    /** Closes the client (also one that was passed in). */
    quit(): Promise<void>;
    readonly client: unknown;
  }
  interface KoaRedisOptions {
    url?: string;
    client?: unknown;
    db?: number;
    [option: string]: unknown;
  }
  function koaRedis(options?: KoaRedisOptions): KoaRedisStore;
  export default koaRedis;
}
