/**
 * Starts the whole demo in-process: the app's http server on 127.0.0.1, two embedded dev OpenID
 * providers ("alpha" and "beta", one client each), and the demo app. `npm run demo` (main.ts)
 * and the tests both start it through {@link startDemo}.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type Koa from 'koa';

import { startDevProvider, type DevProvider } from '../dev-provider/index.js';
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

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new Error(
            `Port ${port} on 127.0.0.1 is already in use (another demo still running?). ` +
              `Stop that process, or pick another port: PORT=${port + 1} npm run demo`,
            { cause: err },
          ),
        );
      } else reject(err);
    };
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export async function startDemo(opts: StartDemoOptions = {}): Promise<Demo> {
  // The server listens first: the providers' redirect URIs need its port. Until the app is built
  // it answers 503; after that the app's callback is composed once, on the first request.
  let handler: ((req: IncomingMessage, res: ServerResponse) => unknown) | undefined;
  const server = createServer((req, res) => {
    if (handler) return void handler(req, res);
    res.statusCode = 503;
    res.setHeader('Retry-After', '1');
    res.end('The demo is starting, reload in a moment.\n');
  });
  await listen(server, opts.port ?? 3000);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const providers: Record<string, DevProvider> = {};
  const stopServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
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
    await stopServer();
    throw err;
  }
  const { app } = demo;
  handler = app.callback();

  return {
    url,
    app,
    providers,
    async close() {
      await stopServer();
      await stopProviders();
      await demo.close();
    },
  };
}
