/**
 * Serving an example from a terminal: the http server, a clean stop on Ctrl+C, and one line
 * instead of a stack trace when it cannot start. Nothing here is about OpenID.
 *
 * - runExample(): the whole main.ts of an example whose app is built from environment variables.
 * - listenEarly(): for examples that start their own providers (demo, spa): the server listens
 *   before the Koa app exists, since the providers' redirect URIs need its port.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type Koa from 'koa';

import { siteFromEnv } from './env.js';

export interface EarlyServer {
  /** `http://<host>:PORT` (`http://127.0.0.1:PORT` by default), no trailing slash. */
  url: string;
  /** Hands the requests to `app` from now on; `app.callback()` is composed once, here. */
  serve(app: Koa): void;
  /** Stops listening and drops the open connections. */
  close(): Promise<void>;
}

export interface ListenOptions {
  /** The port. `0` picks a free one. */
  port: number;
  /** The address to listen on. Default `127.0.0.1`; `0.0.0.0` in a container. */
  host?: string;
  /** What runs here, for the messages: `demo` → "another demo still running?", "The demo is starting". */
  name: string;
  /** The command that starts it, for the "port in use" hint: `npm run demo`. */
  command: string;
}

/**
 * Listens (on 127.0.0.1 unless `host` says otherwise) before the app is built. Until
 * {@link EarlyServer.serve} it answers 503 with `Retry-After: 1`. A port already taken fails with
 * a message saying what to do.
 */
export async function listenEarly({ port, host = '127.0.0.1', name, command }: ListenOptions): Promise<EarlyServer> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => unknown) | undefined;
  const server = createServer((req, res) => {
    if (handler) return void handler(req, res);
    res.statusCode = 503;
    res.setHeader('Retry-After', '1');
    res.end(`The ${name} is starting, reload in a moment.\n`);
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new Error(
            `Port ${port} on ${host} is already in use (another ${name} still running?). ` +
              `Stop that process, or pick another port: PORT=${port + 1} ${command}`,
            { cause: err },
          ),
        );
      } else reject(err);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    serve(app) {
      handler = app.callback();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * On SIGINT or SIGTERM: `close()`, then "Stopped." A second signal exits at once, and so does a
 * shutdown that takes over 5 s.
 */
export function closeOnSignals(close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.log(`\n${signal} again: exiting now.`);
      process.exit(1);
    }
    stopping = true;
    console.log(`\n${signal}: shutting down...`);
    // Should anything hang (a stuck connection), do not keep the terminal waiting.
    setTimeout(() => {
      console.error('Shutdown took over 5 s; exiting.');
      process.exit(1);
    }, 5000).unref();
    close().then(
      () => console.log('Stopped.'),
      (err: unknown) => {
        console.error('Shutdown failed:', err);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** What an example's `create…App()` returns. */
export interface RunnableExample {
  app: Koa;
  /** Closes the session store (its Redis connection). */
  close(): Promise<void>;
}

/**
 * An example's main.ts in one call: `create` builds the app from the environment (it is given
 * {@link siteFromEnv}: `BASE_URL`, `REDIS_URL`, `PORT`, `HOST`), which is then served on HOST:PORT,
 * says where to open it and stops cleanly on Ctrl+C. Whatever keeps it from starting (a variable
 * not set, the port taken) is printed as one line, with exit code 1. `main` is the path of the
 * main file, whose top lists the variables: `examples/keycloak/main.ts`.
 */
export function runExample(main: string, create: (site: ReturnType<typeof siteFromEnv>) => RunnableExample): void {
  async function start(): Promise<void> {
    const site = siteFromEnv();
    const example = create(site);
    let server: EarlyServer;
    try {
      server = await listenEarly({ port: site.port, host: site.host, name: 'example', command: `npx tsx ${main}` });
    } catch (err) {
      await example.close();
      throw err;
    }
    server.serve(example.app);
    closeOnSignals(async () => {
      await server.close();
      await example.close();
    });
    console.log(`Open ${site.baseUrl}/  (listening on ${site.host}:${site.port}; stop with Ctrl+C)`);
  }

  start().catch((err: unknown) => {
    console.error(`The example could not start: ${err instanceof Error ? err.message : String(err)}`);
    console.error(`Its settings are listed at the top of ${main}.`);
    process.exitCode = 1;
  });
}
