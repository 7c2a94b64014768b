/**
 * Serving an example from a terminal: the http server on 127.0.0.1, opened before the Koa app
 * exists (the provider's redirect URIs need its port), and a clean stop on Ctrl+C. Shared by
 * examples/demo and examples/spa; nothing here is about OpenID.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type Koa from 'koa';

export interface EarlyServer {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  /** Hands the requests to `app` from now on; `app.callback()` is composed once, here. */
  serve(app: Koa): void;
  /** Stops listening and drops the open connections. */
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Port on 127.0.0.1. `0` picks a free one. */
  port: number;
  /** What runs here, for the messages: `demo` → "another demo still running?", "The demo is starting". */
  name: string;
  /** The command that starts it, for the "port in use" hint: `npm run demo`. */
  command: string;
}

/**
 * Listens on 127.0.0.1 before the app is built. Until {@link EarlyServer.serve} it answers 503
 * with `Retry-After: 1`. A port already taken fails with a message saying what to do.
 */
export async function listenEarly({ port, name, command }: ListenOptions): Promise<EarlyServer> {
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
            `Port ${port} on 127.0.0.1 is already in use (another ${name} still running?). ` +
              `Stop that process, or pick another port: PORT=${port + 1} ${command}`,
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

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
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

/** `PORT` from the environment, else `fallback`; anything but a port number (0-65535) throws. */
export function portFromEnv(fallback: number): number {
  const raw = process.env.PORT;
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a port number (0-65535), got ${JSON.stringify(raw)}`);
  }
  return port;
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
