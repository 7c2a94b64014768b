/**
 * Starting and stopping the development provider: its http server on 127.0.0.1, its signing keys,
 * oidc-provider on top.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { exportJWK, generateKeyPair, type JWK } from 'jose';

import { devConfiguration } from './configuration.js';
import { finishInteractions, interactionPolicy, interactionUrl } from './interactions.js';
import { oidcProvider, quietly } from './load-oidc-provider.js';
import type { DevProvider, DevProviderOptions, Provider } from './types.js';
import { hostName } from './urls.js';

async function defaultJwks(): Promise<{ keys: JWK[] }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { keys: [{ ...jwk, kid: `dev-${randomUUID()}`, alg: 'RS256', use: 'sig' }] };
}

function listen(port: number): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`port ${port} on 127.0.0.1 is already in use (another development provider still running?): pick another port`, { cause: err })
          : err,
      );
    });
    server.listen(port, '127.0.0.1', () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}

/** The issuer's host: a host name or IP address as a URL writes it, nothing else. */
function issuerHost(host: string | undefined): string {
  if (host === undefined) return '127.0.0.1';
  const name = hostName(host);
  if (name === undefined) {
    throw new TypeError(`startDevProvider(): "issuerHost" must be a host name or IP address without port, got ${JSON.stringify(host)}`);
  }
  return name;
}

/** Starts the provider; resolves once it is listening. */
export async function startDevProvider(opts: DevProviderOptions): Promise<DevProvider> {
  const host = issuerHost(opts.issuerHost);
  const interactive = opts.interactive ?? false;
  let accountId = opts.accountId ?? 'alice';
  const account = () => accountId;
  const jwks = opts.jwks ?? (await defaultJwks());

  const server = await listen(opts.port ?? 0);
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host}:${port}`;

  let provider: Provider;
  try {
    const configuration = devConfiguration({
      opts,
      port,
      jwks,
      policy: interactionPolicy(oidcProvider, interactive, account),
      ...(interactive ? {} : { interactionUrl }),
      InvalidTarget: oidcProvider.errors.InvalidTarget,
    });
    provider = await quietly(() => new oidcProvider.Provider(issuer, configuration));
  } catch (err) {
    server.close();
    throw err;
  }

  if (!interactive) provider.use(finishInteractions(provider, account));
  server.on('request', provider.callback());

  return {
    issuer,
    url: issuer,
    discovery: `${issuer}/.well-known/openid-configuration`,
    provider,
    jwks,
    setAccount(id: string) {
      accountId = id;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
