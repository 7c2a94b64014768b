/**
 * The command line of `koa-session-openid dev-provider`: its help text, and its arguments turned
 * into {@link DevProviderOptions}. Loads nothing else, so that `--help` and usage errors work
 * without oidc-provider installed.
 */
import { parseArgs } from 'node:util';

import type { ClientMetadata, DevProviderOptions } from './types.js';
import { hostName, httpUrl } from './urls.js';

export const PROGRAM = 'koa-session-openid';
/** The port the command listens on unless `--port` says otherwise. */
export const DEFAULT_PORT = 4000;

export const USAGE = `Usage: ${PROGRAM} dev-provider --client <id>:<secret>:<redirect-uri> [options]

Runs an OpenID provider for development (oidc-provider, in memory) on http://127.0.0.1 until
Ctrl+C. Its login page accepts any user name and any password. Never use it in production.

Options:
  --client <id>:<secret>:<redirect-uri>
        Registers a client (at least one). Repeat it to add a client or another redirect URI
        of the same client. An empty secret (<id>::<redirect-uri>) registers a public client
        (PKCE, no client authentication). Neither the id nor the secret may contain ":".
  --port <n>
        The port on 127.0.0.1 (default ${DEFAULT_PORT}; 0 picks a free one).
  --issuer-host <host>
        The host name in the issuer URL (default 127.0.0.1), e.g. localhost. The provider
        listens on 127.0.0.1 only, whatever the name.
  --refresh-tokens
        The clients may use the refresh_token grant, and every login gets a refresh token
        (with offline_access and prompt=consent it outlives the provider session).
  --audience <api-audience>
        Access tokens are JWTs (RS256) with this "aud", for an API that checks bearer tokens.
        The userinfo endpoint refuses them: the ID token carries the profile and email claims.
  --api-scope <scope>
        A scope the --audience API knows, granted when a login asks for it (repeatable).
  --backchannel-logout <client-id>=<uri>
        Back-channel logout: the provider posts a logout token (with "sid") to <uri> when a
        session of the client's user ends at the provider.
  --post-logout-redirect-uri <client-id>=<uri>
        Where the provider may send the browser back after logging out (repeatable).
  -h, --help
        Shows this help.

Example:
  ${PROGRAM} dev-provider --client my-app:dev-secret:http://127.0.0.1:3000/openid/dev/auth \\
    --post-logout-redirect-uri my-app=http://127.0.0.1:3000/openid/dev/logged-out --refresh-tokens
`;

/** A wrong command line: printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type Command = { help: true } | { help: false; options: DevProviderOptions & { port: number; clients: ClientMetadata[] } };

const CLIENT_FORMAT = 'expected <client-id>:<client-secret>:<redirect-uri>, e.g. --client my-app:dev-secret:http://127.0.0.1:3000/openid/dev/auth';
/** Printable ASCII without space, ":" and "=" (so that "<client-id>=<uri>" is unambiguous). */
const CLIENT_ID = /^[\x21-\x39\x3b\x3c\x3e-\x7e]+$/;

const OPTIONS = {
  client: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
  'issuer-host': { type: 'string', multiple: true },
  'refresh-tokens': { type: 'boolean', multiple: true },
  audience: { type: 'string', multiple: true },
  'api-scope': { type: 'string', multiple: true },
  'backchannel-logout': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

function once<T>(name: string, values: T[] | undefined): T | undefined {
  if (values && values.length > 1) throw new UsageError(`--${name} is given ${values.length} times; give it once`);
  return values?.[0];
}

function parseClient(value: string): { id: string; secret: string; redirectUri: string } {
  const first = value.indexOf(':');
  const second = first < 0 ? -1 : value.indexOf(':', first + 1);
  if (second < 0) throw new UsageError(`--client ${JSON.stringify(value)}: ${CLIENT_FORMAT}`);
  const id = value.slice(0, first);
  const secret = value.slice(first + 1, second);
  const redirectUri = value.slice(second + 1);
  if (!CLIENT_ID.test(id)) {
    throw new UsageError(`--client ${JSON.stringify(value)}: the client id must be printable characters without spaces, ":" or "="; ${CLIENT_FORMAT}`);
  }
  if (/\s/.test(secret)) throw new UsageError(`--client ${JSON.stringify(value)}: the client secret must not contain spaces; ${CLIENT_FORMAT}`);
  if (!httpUrl(redirectUri)) {
    throw new UsageError(`--client ${JSON.stringify(value)}: the redirect URI ${JSON.stringify(redirectUri)} is not an absolute http(s) URL without fragment; ${CLIENT_FORMAT}`);
  }
  return { id, secret, redirectUri };
}

/** `<client-id>=<uri>` of `--<option>`, naming a registered client. */
function clientUri(option: string, value: string, clients: Map<string, ClientMetadata>): [ClientMetadata, string] {
  const at = value.indexOf('=');
  const format = `expected <client-id>=<uri>, e.g. --${option} my-app=http://127.0.0.1:3000/openid/dev/${option === 'backchannel-logout' ? 'backchannel-logout' : 'logged-out'}`;
  if (at < 0) throw new UsageError(`--${option} ${JSON.stringify(value)}: ${format}`);
  const id = value.slice(0, at);
  const uri = value.slice(at + 1);
  const client = clients.get(id);
  if (!client) throw new UsageError(`--${option} ${JSON.stringify(value)}: no --client has the id ${JSON.stringify(id)}`);
  if (!httpUrl(uri)) throw new UsageError(`--${option} ${JSON.stringify(value)}: ${JSON.stringify(uri)} is not an absolute http(s) URL without fragment`);
  return [client, uri];
}

function parsePort(value: string | undefined): number {
  if (value === undefined) return DEFAULT_PORT;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port <= 65535)) throw new UsageError(`--port ${JSON.stringify(value)}: expected a port number, 0 to 65535`);
  return port;
}

/** The command line (without `node` and the script) as a {@link Command}; a wrong one throws {@link UsageError}. */
export function parseCommandLine(argv: string[]): Command {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((err as Error).message.split('\n')[0]!);
    throw err;
  }
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new UsageError('no command given; the command is "dev-provider"');
  if (positionals[0] !== 'dev-provider') throw new UsageError(`unknown command ${JSON.stringify(positionals[0])}; the command is "dev-provider"`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);

  if (!values.client?.length) throw new UsageError(`no --client given; ${CLIENT_FORMAT}`);
  const clients = new Map<string, ClientMetadata>();
  for (const value of values.client) {
    const { id, secret, redirectUri } = parseClient(value);
    const known = clients.get(id);
    if (known) {
      if ((known.client_secret ?? '') !== secret) throw new UsageError(`--client ${JSON.stringify(id)} is given twice with different secrets`);
      if (!known.redirect_uris!.includes(redirectUri)) known.redirect_uris!.push(redirectUri);
      continue;
    }
    clients.set(id, {
      client_id: id,
      ...(secret === '' ? { token_endpoint_auth_method: 'none' } : { client_secret: secret }),
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    });
  }

  for (const value of values['backchannel-logout'] ?? []) {
    const [client, uri] = clientUri('backchannel-logout', value, clients);
    if (client.backchannel_logout_uri !== undefined) throw new UsageError(`--backchannel-logout is given twice for the client ${JSON.stringify(client.client_id)}; a client has one`);
    client.backchannel_logout_uri = uri;
    client.backchannel_logout_session_required = true;
  }
  for (const value of values['post-logout-redirect-uri'] ?? []) {
    const [client, uri] = clientUri('post-logout-redirect-uri', value, clients);
    client.post_logout_redirect_uris = [...new Set([...(client.post_logout_redirect_uris ?? []), uri])];
  }

  const port = parsePort(once('port', values.port));
  const host = once('issuer-host', values['issuer-host']);
  if (host !== undefined && hostName(host) === undefined) {
    throw new UsageError(`--issuer-host ${JSON.stringify(host)}: expected a host name or IP address without scheme or port, e.g. localhost`);
  }
  const audience = once('audience', values.audience);
  if (audience !== undefined && (audience === '' || /\s/.test(audience))) throw new UsageError(`--audience ${JSON.stringify(audience)}: expected an audience without spaces, e.g. https://api.example.test`);
  const apiScopes = values['api-scope'] ?? [];
  if (apiScopes.length && audience === undefined) throw new UsageError('--api-scope needs --audience (the API whose scope it is)');
  for (const scope of apiScopes) {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) throw new UsageError(`--api-scope ${JSON.stringify(scope)}: expected one scope, printable characters without spaces, quotes or backslashes`);
  }

  return {
    help: false,
    options: {
      interactive: true,
      port,
      clients: [...clients.values()],
      ...(host === undefined ? {} : { issuerHost: host }),
      ...(values['refresh-tokens']?.length ? { refreshTokens: true } : {}),
      ...(audience === undefined ? {} : { audience, apiScopes: [...new Set(apiScopes)] }),
    },
  };
}
