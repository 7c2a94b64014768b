/** Small helpers for the session tests: a Koa app on a real port, and cookie handling by hand. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';

export interface Served {
  url(path: string): string;
  close(): Promise<void>;
}

export async function serve(app: Koa): Promise<Served> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: (path) => base + path,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface SetCookie {
  name: string;
  value: string;
  /** Lower-cased attribute names → values (`''` for flags). */
  attrs: Map<string, string>;
  raw: string;
}

export function setCookies(res: Response): SetCookie[] {
  return res.headers.getSetCookie().map((raw) => {
    const [pair, ...attrs] = raw.split(';').map((s) => s.trim());
    const eq = pair!.indexOf('=');
    return {
      name: pair!.slice(0, eq),
      value: pair!.slice(eq + 1),
      attrs: new Map(attrs.map((a) => {
        const i = a.indexOf('=');
        return i === -1 ? [a.toLowerCase(), ''] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)];
      })),
      raw,
    };
  });
}

/** A minimal cookie jar: keeps the last value per name, drops cleared ones. */
export class Jar {
  readonly cookies = new Map<string, string>();

  take(res: Response): SetCookie[] {
    const list = setCookies(res);
    for (const c of list) {
      const expires = c.attrs.get('expires');
      if (c.value === '' || (expires !== undefined && Date.parse(expires) <= Date.now())) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return list;
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async fetch(url: string, init: { headers?: Record<string, string> } = {}): Promise<Response> {
    const res = await fetch(url, { redirect: 'manual', headers: { ...init.headers, cookie: this.header() } });
    this.take(res);
    return res;
  }
}
