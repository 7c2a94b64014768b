/**
 * Starts the whole demo in-process: the app's http server on 127.0.0.1, two embedded dev OpenID
 * providers ("alpha" and "beta", one client each), and the demo app. `npm run demo` (main.ts)
 * and the tests both start it through {@link startDemo}.
 */
import type Koa from 'koa';

import { startDevProvider, type DevProvider } from '../../src/dev-provider/index.js';
import { listenEarly } from '../shared/serve.js';
import { createDemoApp, type DemoApp } from './app.js';

export interface StartDemoOptions {
  /** Port on 127.0.0.1 for the app. `0` picks a free one. Default `3000`. */
  port?: number;
  /** `true`: the providers show login and consent pages (people, real browsers). Default `false`: logins finish by themselves as `alice`. */
  interactive?: boolean;
  /** Sessions in this Redis. Default: `REDIS_URL`, else in memory. */
  redisUrl?: string;
}

export interface Demo {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  app: Koa;
  /** The dev providers by name (`alpha`, `beta`). */
  providers: Record<string, DevProvider>;
  /** Stops the app server, the providers and the session store. */
  close(): Promise<void>;
}

export const DEMO_PROVIDERS = [
  { name: 'alpha', label: 'Alpha' },
  { name: 'beta', label: 'Beta' },
] as const;

export async function startDemo(opts: StartDemoOptions = {}): Promise<Demo> {
  // The server listens first: the providers' redirect URIs need its port. Until the app is built
  // it answers 503.
  const server = await listenEarly({ port: opts.port ?? 3000, name: 'demo', command: 'npm run demo' });
  const { url } = server;

  const providers: Record<string, DevProvider> = {};
  const stopProviders = () => Promise.all(Object.values(providers).map((p) => p.close()));
  let demo: DemoApp;

  try {
    for (const { name } of DEMO_PROVIDERS) {
      providers[name] = await startDevProvider({
        interactive: opts.interactive ?? false,
        clients: [
          {
            client_id: `demo-${name}`,
            client_secret: `demo-${name}-secret (not secret)`,
            redirect_uris: [`${url}/openid/${name}/auth`],
            // Where the provider may send the browser back after "Log out" (RP-Initiated Logout).
            post_logout_redirect_uris: [`${url}/openid/${name}/logged-out`],
            grant_types: ['authorization_code', 'refresh_token'],
          },
        ],
      });
    }
    demo = createDemoApp({
      baseUrl: url,
      redisUrl: opts.redisUrl,
      providers: DEMO_PROVIDERS.map(({ name, label }) => ({
        name,
        label,
        configuration: `${providers[name]!.issuer}/.well-known/openid-configuration`,
        clientId: `demo-${name}`,
        clientSecret: `demo-${name}-secret (not secret)`,
      })),
    });
  } catch (err) {
    await stopProviders();
    await server.close();
    throw err;
  }
  const { app } = demo;
  server.serve(app);

  return {
    url,
    app,
    providers,
    async close() {
      await server.close();
      await stopProviders();
      await demo.close();
    },
  };
}
