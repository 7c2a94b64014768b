/**
 * Starts the single-page app example in-process: the app's http server on 127.0.0.1, an embedded
 * dev OpenID provider with one public client (the page) and one resource server (the API), and
 * the Koa app. `npm run example:spa` (main.ts) and the tests both start it through
 * {@link startSpaExample}.
 */
import type Koa from 'koa';

import { startDevProvider, type DevProvider } from '../../src/dev-provider/index.js';
import { listenEarly } from '../shared/serve.js';
import { ADMIN_SCOPE, READ_SCOPE, createSpaApp } from './app.js';

export interface StartSpaOptions {
  /** Port on 127.0.0.1 for the app. `0` picks a free one. Default `3001`. */
  port?: number;
  /** `true`: the provider shows login and consent pages (people, real browsers). Default `false`: logins finish by themselves as `alice`. */
  interactive?: boolean;
}

export interface SpaExample {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  /** The page's URL: also its registered `redirect_uri`. */
  redirectUri: string;
  /** The API's resource indicator and the `aud` of its access tokens. */
  resource: string;
  clientId: string;
  app: Koa;
  provider: DevProvider;
  /** Stops the app server and the provider. */
  close(): Promise<void>;
}

export const SPA_CLIENT_ID = 'spa';

export async function startSpaExample(opts: StartSpaOptions = {}): Promise<SpaExample> {
  // The server listens first: the redirect URI and the API's resource indicator need its port.
  // Until the app is built it answers 503.
  const server = await listenEarly({ port: opts.port ?? 3001, name: 'example', command: 'npm run example:spa' });
  const { url } = server;
  const redirectUri = `${url}/`;
  const resource = `${url}/api`;
  const pageOrigin = new URL(url).origin;

  let provider: DevProvider;
  try {
    provider = await startDevProvider({
      interactive: opts.interactive ?? false,
      clients: [
        {
          client_id: SPA_CLIENT_ID,
          // A public client: the page can keep no secret, PKCE protects the code instead.
          token_endpoint_auth_method: 'none',
          // oidc-provider accepts http:// redirect URIs for implicit-flow clients only when they
          // are "native" (RFC 8252 loopback). Served over https, this page would be 'web'.
          application_type: 'native',
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code', 'implicit'],
          response_types: ['code', 'id_token token'],
        },
      ],
      // RFC 8707: a token asked for `resource=<api>` is an RFC 9068 JWT for the API (aud, scope).
      resourceServers: {
        [resource]: {
          scope: `${READ_SCOPE} ${ADMIN_SCOPE}`,
          audience: resource,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        },
      },
      extraConfig: {
        responseTypes: ['code', 'id_token token'],
        // The page calls the token endpoint with fetch: CORS for its own origin, nothing else.
        clientBasedCORS: (_ctx: unknown, origin: string, client: { clientId: string }) =>
          client.clientId === SPA_CLIENT_ID && origin === pageOrigin,
      },
    });
  } catch (err) {
    await server.close();
    throw err;
  }

  const app = createSpaApp({ issuer: provider.issuer, clientId: SPA_CLIENT_ID, resource });
  server.serve(app);

  return {
    url,
    redirectUri,
    resource,
    clientId: SPA_CLIENT_ID,
    app,
    provider,
    async close() {
      await server.close();
      await provider.close();
    },
  };
}
