/**
 * One bench server per child process (started by bench/bearer.ts, pinned to its own core): the
 * scenario comes as argv[2], the public JWK in BENCH_JWK. Answers the parent over IPC with
 * `{ port }` once listening, and exits on `'stop'` (so that `--cpu-prof` writes its profile).
 *
 *   A  hand-written Koa route: jose.jwtVerify with a local key
 *   B  provider.bearer() of this library (unique tokens: cache misses)
 *   C  bare Koa hello route
 *   D  provider.bearer() of this library (one repeated token: cache hits)
 *
 * All four answer a short text: "Hello World" (C), "Hello <sub of the token>" (A, B, D), so the
 * ratios compare the cost of the token check and not of the body.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { importJWK, jwtVerify, type JWK } from 'jose';
import { OpenID } from '../src/index.js';
import { AUDIENCE, ISSUER } from './tokens.js';

export type Scenario = 'A' | 'B' | 'C' | 'D';

const listen = (server: Server) =>
  new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

/** A: what an app would write by hand with jose and a key it already has. */
async function handWritten(app: Koa, jwk: JWK): Promise<void> {
  const key = await importJWK(jwk, 'RS256');
  app.use(async (ctx) => {
    const match = /^Bearer (.+)$/.exec(ctx.get('authorization'));
    if (!match) {
      ctx.status = 401;
      return;
    }
    try {
      const { payload } = await jwtVerify(match[1]!, key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['RS256'] });
      ctx.body = `Hello ${payload.sub}`;
    } catch {
      ctx.status = 401;
    }
  });
}

/** B and D: the library, pointed at a tiny discovery + JWKS server on 127.0.0.1 in this process. */
async function library(app: Koa, jwk: JWK): Promise<void> {
  const op = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      const base = `http://127.0.0.1:${(op.address() as AddressInfo).port}`;
      res.end(
        JSON.stringify({
          issuer: ISSUER,
          authorization_endpoint: `${base}/authorize`,
          token_endpoint: `${base}/token`,
          jwks_uri: `${base}/jwks`,
          id_token_signing_alg_values_supported: ['RS256'],
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
        }),
      );
    } else if (req.url === '/jwks') {
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  const opPort = await listen(op);
  // The documents are served from 127.0.0.1 but name the tokens' issuer: the "issuer" option says so.
  const provider = new OpenID(app, {
    name: 'bench',
    clientId: 'bench-client',
    configuration: `http://127.0.0.1:${opPort}/.well-known/openid-configuration`,
    issuer: ISSUER,
    routes: false,
    allowInsecureRequests: true,
  });
  await provider.ready();
  app.use(provider.bearer({ audience: AUDIENCE }));
  app.use((ctx) => {
    ctx.body = `Hello ${ctx.state.user!.sub}`;
  });
}

async function main(): Promise<void> {
  const scenario = process.argv[2] as Scenario;
  const jwk = JSON.parse(process.env.BENCH_JWK ?? 'null') as JWK;
  const app = new Koa();
  if (scenario === 'A') await handWritten(app, jwk);
  else if (scenario === 'B' || scenario === 'D') await library(app, jwk);
  else if (scenario === 'C') {
    app.use((ctx) => {
      ctx.body = 'Hello World';
    });
  } else throw new Error(`unknown scenario ${JSON.stringify(scenario)}`);
  const port = await listen(createServer(app.callback()));
  process.on('message', (msg) => {
    if (msg === 'stop') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ port });
}

await main();
