/**
 * Loads oidc-provider, an optional peer dependency: importing the development provider without it
 * installed fails with a message saying what to install. The library itself never loads this.
 */
import type { Provider } from './types.js';

/** The message of the error thrown when oidc-provider is not installed. */
export const MISSING_OIDC_PROVIDER = 'the development provider needs oidc-provider: npm install -D oidc-provider';

/** The parts of the oidc-provider module used here. */
export interface OidcProviderModule {
  Provider: new (issuer: string, configuration: Record<string, unknown>) => Provider;
  errors: { InvalidTarget: new (description?: string) => Error };
  interactionPolicy: {
    base(): Array<{ name: string; checks: unknown[] }> & {
      get(name: string): { checks: unknown[] } | undefined;
    };
    Check: new (reason: string, description: string, check: (ctx: any) => boolean) => unknown;
  };
}

// Printed by oidc-provider for every dev setup like this one; real warnings are left alone.
const EXPECTED_NOTICES = ['Unsupported runtime', 'development-only in-memory adapter', 'development-only feature devInteractions'];

/** Runs `fn` with oidc-provider's expected development notices (on `console.warn`) silenced. */
export async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const { warn } = console;
  console.warn = (...args: unknown[]) => {
    const text = String(args[0]);
    if (!EXPECTED_NOTICES.some((notice) => text.includes(notice))) warn.apply(console, args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

/** Whether `err` says that the package oidc-provider itself (not one of its dependencies) is missing. */
function isMissingPackage(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'oidc-provider'`);
}

async function load(): Promise<OidcProviderModule> {
  try {
    // Imported dynamically so that its "Unsupported runtime" notice (Node 20) can be silenced.
    // @ts-ignore -- oidc-provider ships no type declarations; OidcProviderModule describes what is used.
    return (await quietly(() => import('oidc-provider'))) as unknown as OidcProviderModule;
  } catch (err) {
    if (isMissingPackage(err)) throw new Error(MISSING_OIDC_PROVIDER, { cause: err });
    throw err;
  }
}

/** oidc-provider, loaded when this module is imported. */
export const oidcProvider: OidcProviderModule = await load();
