/**
 * A TCP server on 127.0.0.1 that stands in for one endpoint of a provider and fails the way real
 * networks and servers fail, for the fault tests (test/faults/). Below HTTP on purpose: a
 * hostile *HTTP* server (hostile-provider.ts) cannot refuse connections, stall half way through a
 * body or answer bytes that are not HTTP at all.
 *
 * Modes (`await server.set(mode)` at any time; a switch drops the connections already open, as a
 * restarted server would, so pooled keep-alive sockets meet the new mode too):
 * - `pass`: a plain TCP proxy to `target` (the real endpoint behind it);
 * - `refuse`: nothing listens on the port (connection refused), the port is kept for later;
 * - `reset`: accepts, then destroys the connection at once;
 * - `silent`: accepts and reads, never writes (the client must give up by itself);
 * - `garbage`: answers a request with random bytes that are not HTTP;
 * - `bad-json`: `200`, `application/json`, a body that is not JSON;
 * - `html`: `502` with an HTML error page, as a reverse proxy in front of a dead provider sends;
 * - `stall-body`: `200` headers announcing a JSON body, the first bytes of it, then nothing;
 * - `drip`: `200` headers, then one byte of body every 200 ms, forever (defeats idle timeouts).
 *
 * Answers other than `pass` never close the connection from this side (`Connection: close` is
 * announced where HTTP applies): closing it is the client's job, and `busy` (connections that
 * carried a request and are still open) shows whether it did, so a test can tell a leaked socket
 * from a closed one. (`connections` counts idle ones too: after an aborted request Node's fetch
 * opens a fresh connection to the same origin and keeps it idle for its keep-alive timeout, 4 s.)
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type FaultMode = 'pass' | 'refuse' | 'reset' | 'silent' | 'garbage' | 'bad-json' | 'html' | 'stall-body' | 'drip';

/** Every mode that fails. */
export const FAULT_MODES: readonly Exclude<FaultMode, 'pass'>[] = ['refuse', 'reset', 'silent', 'garbage', 'bad-json', 'html', 'stall-body', 'drip'];

/** The modes in which a request never gets a complete answer: only the client's timeout ends it. */
export const HANGING_MODES: ReadonlySet<FaultMode> = new Set(['silent', 'stall-body', 'drip']);

export interface FaultServer {
  /** `http://127.0.0.1:PORT` (the port stays the same across modes). */
  readonly origin: string;
  readonly port: number;
  readonly mode: FaultMode;
  /** Switches to `mode` (resolves once the port is closed or listening as the mode needs). */
  set(mode: FaultMode): Promise<void>;
  /** Connections open right now (both directions of a proxied one count once). */
  readonly connections: number;
  /** Connections open right now that carried a request (not proxied ones). */
  readonly busy: number;
  /** Connections accepted since the start (Node's fetch may open one it never uses, see above). */
  readonly accepted: number;
  /** Requests received since the start (the heads read in the failing modes; none in `pass`, `refuse`, `reset`). */
  readonly requests: number;
  /** Resolves once no connection that carried a request is open (`idle: true`: none at all), or rejects after `ms`. */
  drained(ms?: number, options?: { idle?: boolean }): Promise<void>;
  close(): Promise<void>;
}

const HTML = '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>The upstream server is not available.</p></body></html>';

/** Random bytes that cannot be read as the start of an HTTP response. */
function noise(): Buffer {
  const bytes = randomBytes(512);
  bytes[0] = 0x00;
  return bytes;
}

function answer(mode: FaultMode, socket: Socket): void {
  const head = (status: string, type: string, length: number) =>
    `HTTP/1.1 ${status}\r\ncontent-type: ${type}\r\ncontent-length: ${length}\r\nconnection: close\r\ncache-control: no-store\r\n\r\n`;
  switch (mode) {
    case 'garbage':
      socket.write(noise());
      return;
    case 'bad-json': {
      const body = '{"issuer": "http://127.0.0.1", "keys": [ {"kty": "RSA", "n": ';
      socket.write(head('200 OK', 'application/json', Buffer.byteLength(body)) + body);
      return;
    }
    case 'html':
      socket.write(head('502 Bad Gateway', 'text/html; charset=utf-8', Buffer.byteLength(HTML)) + HTML);
      return;
    case 'stall-body':
      socket.write(`${head('200 OK', 'application/json', 4096)}{"keys": [`);
      return;
    case 'drip': {
      socket.write(head('200 OK', 'application/json', 65536));
      const timer = setInterval(() => socket.write(' '), 200);
      socket.once('close', () => clearInterval(timer));
      return;
    }
    default:
      return;
  }
}

/** Starts a fault server on a free port of 127.0.0.1 (in `mode`, default `pass` to `target`). */
export async function startFaultServer(options: { target?: { host?: string; port: number }; mode?: FaultMode } = {}): Promise<FaultServer> {
  const open = new Set<Socket>();
  const busy = new Set<Socket>();
  let accepted = 0;
  let requests = 0;
  let mode: FaultMode = options.mode ?? 'pass';
  let listening = false;

  const onConnection = (socket: Socket) => {
    accepted++;
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      busy.delete(socket);
    });
    socket.on('error', () => {});
    const current = mode;
    if (current === 'reset') {
      socket.resetAndDestroy();
      return;
    }
    if (current === 'pass') {
      if (!options.target) return void socket.destroy();
      const upstream = connect(options.target.port, options.target.host ?? '127.0.0.1');
      upstream.on('error', () => socket.destroy());
      socket.once('close', () => upstream.destroy());
      upstream.once('close', () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
      return;
    }
    // Wait for a whole request head, then answer as the mode says (once per connection).
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      requests++;
      if (!socket.destroyed) busy.add(socket);
      socket.resume(); // read (and drop) whatever follows, e.g. a form body
      answer(current, socket);
    };
    socket.on('data', onData);
  };

  const server: Server = createServer({ noDelay: true }, onConnection);
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    });
  // Not server.close()'s callback: it waits for every connection to end, and a client may keep one.
  const stopListening = async () => {
    if (!listening) return;
    listening = false;
    server.close();
    await new Promise((resolve) => setTimeout(resolve, 5));
  };

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  let switching: Promise<void> = Promise.resolve();
  if (mode === 'refuse') switching = stopListening();
  await switching;

  const dropAll = () => {
    for (const socket of open) socket.destroy();
  };

  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    get mode() {
      return mode;
    },
    set(next: FaultMode) {
      mode = next;
      dropAll();
      switching = switching.then(() => (next === 'refuse' ? stopListening() : listening ? undefined : listen(port)));
      return switching;
    },
    get connections() {
      return open.size;
    },
    get busy() {
      return busy.size;
    },
    get accepted() {
      return accepted;
    },
    get requests() {
      return requests;
    },
    async drained(ms = 2000, { idle = false } = {}) {
      const end = Date.now() + ms;
      const watched = idle ? open : busy;
      while (watched.size > 0) {
        if (Date.now() > end) throw new Error(`${watched.size} connection(s)${idle ? '' : ' with a request'} still open to the fault server (${mode}) after ${ms} ms`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close() {
      await switching;
      dropAll();
      await stopListening();
    },
  };
}
