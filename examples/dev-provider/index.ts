/** The embedded development provider: see ./dev-provider.ts. */
export * from './dev-provider.js';
