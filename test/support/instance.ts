/**
 * One app instance for the multi-instance tests: redisSession on a shared Redis prefix and one
 * provider, with small routes to read, hold, guard, refresh and end a login, and to list and end a
 * user's sessions. Run in the test's process
 * (`startInstance`) or as a process of its own (`spawnInstance`): processes share nothing but
 * Redis, as app instances behind a load balancer do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import Koa from 'koa';
import { renderingErrors } from './hostile-app.js';
import { Browser } from './http-client.js';
import { OpenID, redisSession } from '../../src/index.js';
import { topologyClient, type TopologySpec } from './redis-topologies.js';

export interface InstanceOptions {
  /** The Redis of the sessions (a URL: the instance opens and closes its client). */
  redisUrl?: string;
  /** Instead of `redisUrl`: a Redis Cluster or a Sentinel set, through an ioredis client of the instance's own (test/support/redis-topologies.ts). */
  topology?: TopologySpec;
  prefix: string;
  discoveryUrl: string;
  /** More provider options (JSON: they also reach spawned instances). */
  openid?: Record<string, unknown>;
}

export interface Instance {
  base: string;
  /** `/hold` waits on this gate after reading the session (in-process instances only). */
  hold(): { reached: Promise<void>; release(): void };
  close(): Promise<void>;
}

export async function startInstance(opts: InstanceOptions): Promise<Instance> {
  const app = new Koa();
  app.silent = true;
  const client = opts.topology ? topologyClient(opts.topology) : undefined;
  const sessions = redisSession(app, { redis: client ?? opts.redisUrl, prefix: opts.prefix });
  app.use(sessions);
  const openid = new OpenID(app, {
    name: 'hostile',
    clientId: 'hostile-client',
    clientSecret: 'hostile-secret-value-0123456789abcdef',
    configuration: opts.discoveryUrl,
    allowInsecureRequests: true,
    scopes: ['openid', 'offline_access'],
    ...opts.openid,
  });
  const guard = openid.required();
  let gate: Promise<void> = Promise.resolve();
  let arrived: () => void = () => {};
  app.use(renderingErrors(openid));
  app.use(async (ctx) => {
    switch (ctx.path) {
      case '/me':
        ctx.body = { login: (await openid.session(ctx)) ?? null, note: ctx.session.note ?? null };
        return;
      case '/hold': {
        // Reads the login and the app data, waits, then changes the app data: a slow, stale request.
        const seen = await openid.session(ctx);
        arrived();
        await gate;
        ctx.session.note = 'written after the wait';
        ctx.body = { seenAccessToken: seen?.tokens.accessToken ?? null };
        return;
      }
      case '/guarded':
        // Behind the guard (which refreshes a token that is due): the access token it left.
        await guard(ctx, async () => {
          ctx.body = { accessToken: await openid.accessToken(ctx) };
        });
        return;
      case '/sessions':
        ctx.body = await openid.sessionsOf(String(ctx.query.sub));
        return;
      case '/end-sessions':
        ctx.body = { ended: await openid.endSessions(ctx.query.sid ? { sid: String(ctx.query.sid) } : { sub: String(ctx.query.sub) }) };
        return;
      case '/refresh':
        ctx.body = { accessToken: (await openid.refresh(ctx)).tokens.accessToken };
        return;
      case '/logout':
        ctx.body = { removed: await openid.logout(ctx) };
        return;
      default:
        ctx.status = 404;
    }
  });
  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold() {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      const reached = new Promise<void>((resolve) => (arrived = resolve));
      return { reached, release };
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await sessions.close();
      client?.disconnect();
    },
  };
}

/** A new browser logs in on `instance` through its provider (JSON answers): the session cookie's value. */
export async function loginOn(instance: Instance): Promise<string> {
  const browser = new Browser();
  const { response } = await browser.follow(`${instance.base}/openid/hostile/login`, { headers: { accept: 'application/json' } });
  await response.arrayBuffer();
  const value = browser.cookies(instance.base)['koa-session-openid'];
  if (!value) throw new Error(`no login on ${instance.base} (${response.status})`);
  return value;
}

/** The same instance in a child process. */
export async function spawnInstance(opts: InstanceOptions): Promise<Instance> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname], {
    env: { ...process.env, INSTANCE_OPTIONS: JSON.stringify(opts) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`instance exited (${code})`)));
  });
  return {
    base: (JSON.parse(line) as { base: string }).base,
    hold() {
      throw new Error('hold() needs an in-process instance');
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill();
      await exited;
    },
  };
}

if (process.env.INSTANCE_OPTIONS && import.meta.url === `file://${process.argv[1]}`) {
  const instance = await startInstance(JSON.parse(process.env.INSTANCE_OPTIONS) as InstanceOptions);
  process.stdout.write(`${JSON.stringify({ base: instance.base })}\n`);
  process.on('SIGTERM', () => void instance.close().then(() => process.exit(0)));
}
