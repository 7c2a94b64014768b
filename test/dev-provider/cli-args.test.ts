/** The command line of `koa-session-openid dev-provider` turned into startDevProvider options (no process started). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DEFAULT_PORT, UsageError, parseCommandLine } from '../../src/dev-provider/cli-args.js';

const options = (...argv: string[]) => {
  const command = parseCommandLine(['dev-provider', ...argv]);
  assert.equal(command.help, false);
  return command.options;
};

const refused = (argv: string[], message: RegExp) =>
  assert.throws(() => parseCommandLine(argv), (err: unknown) => err instanceof UsageError && message.test(err.message));

describe('dev-provider command line', () => {
  it('--help or -h anywhere asks for the help', () => {
    assert.deepEqual(parseCommandLine(['--help']), { help: true });
    assert.deepEqual(parseCommandLine(['dev-provider', '-h']), { help: true });
    assert.deepEqual(parseCommandLine(['dev-provider', '--client', 'nonsense', '--help']), { help: true });
  });

  it('one --client: an interactive provider on the default port with a confidential code-flow client', () => {
    assert.deepEqual(options('--client', 'my-app:s3cret:http://127.0.0.1:3000/openid/dev/auth'), {
      interactive: true,
      port: DEFAULT_PORT,
      clients: [
        {
          client_id: 'my-app',
          client_secret: 's3cret',
          redirect_uris: ['http://127.0.0.1:3000/openid/dev/auth'],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
    });
  });

  it('repeating a client id adds redirect URIs; an empty secret makes a public client', () => {
    const { clients } = options(
      '--client', 'app:s:http://127.0.0.1:3000/cb',
      '--client', 'app:s:http://localhost:3000/cb',
      '--client', 'app:s:http://127.0.0.1:3000/cb',
      '--client', 'spa::http://127.0.0.1:5173/',
    );
    assert.deepEqual(clients.map((c) => [c.client_id, c.client_secret, c.token_endpoint_auth_method, c.redirect_uris]), [
      ['app', 's', undefined, ['http://127.0.0.1:3000/cb', 'http://localhost:3000/cb']],
      ['spa', undefined, 'none', ['http://127.0.0.1:5173/']],
    ]);
    refused(['dev-provider', '--client', 'app:s:http://a/cb', '--client', 'app:t:http://b/cb'], /^--client "app" is given twice with different secrets$/);
  });

  it('every other option', () => {
    const opts = options(
      '--client', 'app:s:http://127.0.0.1:3000/cb',
      '--port', '0',
      '--issuer-host', 'localhost',
      '--refresh-tokens',
      '--audience', 'https://api.example.test',
      '--api-scope', 'api:read',
      '--api-scope', 'api:read',
      '--backchannel-logout', 'app=http://127.0.0.1:3000/openid/dev/backchannel-logout',
      '--post-logout-redirect-uri', 'app=http://127.0.0.1:3000/openid/dev/logged-out',
      '--post-logout-redirect-uri', 'app=http://localhost:3000/openid/dev/logged-out',
    );
    assert.equal(opts.port, 0);
    assert.equal(opts.issuerHost, 'localhost');
    assert.equal(opts.refreshTokens, true);
    assert.equal(opts.audience, 'https://api.example.test');
    assert.deepEqual(opts.apiScopes, ['api:read']);
    assert.deepEqual(opts.clients[0], {
      client_id: 'app',
      client_secret: 's',
      redirect_uris: ['http://127.0.0.1:3000/cb'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      backchannel_logout_uri: 'http://127.0.0.1:3000/openid/dev/backchannel-logout',
      backchannel_logout_session_required: true,
      post_logout_redirect_uris: ['http://127.0.0.1:3000/openid/dev/logged-out', 'http://localhost:3000/openid/dev/logged-out'],
    });
  });

  it('a malformed --client says what is wrong and what is expected', () => {
    const expected = /expected <client-id>:<client-secret>:<redirect-uri>, e\.g\. --client my-app:dev-secret:http:\/\/127\.0\.0\.1:3000\/openid\/dev\/auth$/;
    refused(['dev-provider', '--client', 'my-app'], /^--client "my-app": expected/);
    refused(['dev-provider', '--client', 'my-app:secret'], /^--client "my-app:secret": expected/);
    refused(['dev-provider', '--client', ':secret:http://127.0.0.1/cb'], /the client id must be printable characters/);
    refused(['dev-provider', '--client', 'a=b:secret:http://127.0.0.1/cb'], /the client id must be printable characters without spaces, ":" or "="/);
    refused(['dev-provider', '--client', 'app:secret:ftp://127.0.0.1/cb'], /the redirect URI "ftp:\/\/127\.0\.0\.1\/cb" is not an absolute http\(s\) URL/);
    refused(['dev-provider', '--client', 'app:secret:http://127.0.0.1/cb#x'], /without fragment/);
    refused(['dev-provider', '--client', 'app:secret:/cb'], expected);
  });

  it('refuses the other usage errors', () => {
    const client = ['--client', 'app:s:http://127.0.0.1/cb'];
    refused([], /^no command given/);
    refused(['serve', ...client], /^unknown command "serve"; the command is "dev-provider"$/);
    refused(['dev-provider', 'extra', ...client], /^unexpected argument "extra"$/);
    refused(['dev-provider'], /^no --client given/);
    refused(['dev-provider', ...client, '--port'], /^Option '--port <value>' argument missing$/);
    refused(['dev-provider', ...client, '--port', '65536'], /^--port "65536": expected a port number, 0 to 65535$/);
    refused(['dev-provider', ...client, '--port', '3000', '--port', '3001'], /^--port is given 2 times; give it once$/);
    refused(['dev-provider', ...client, '--issuer-host', 'http://localhost'], /^--issuer-host "http:\/\/localhost": expected a host name/);
    refused(['dev-provider', ...client, '--issuer-host', 'localhost:4000'], /^--issuer-host "localhost:4000"/);
    refused(['dev-provider', ...client, '--audience', ''], /^--audience "": expected an audience without spaces/);
    refused(['dev-provider', ...client, '--api-scope', 'api:read'], /^--api-scope needs --audience/);
    refused(['dev-provider', ...client, '--audience', 'api', '--api-scope', 'a b'], /^--api-scope "a b": expected one scope/);
    refused(['dev-provider', ...client, '--backchannel-logout', 'http://127.0.0.1/bc'], /^--backchannel-logout "http:\/\/127\.0\.0\.1\/bc": expected <client-id>=<uri>/);
    refused(['dev-provider', ...client, '--backchannel-logout', 'other=http://127.0.0.1/bc'], /no --client has the id "other"/);
    refused(['dev-provider', ...client, '--backchannel-logout', 'app=http://a/1', '--backchannel-logout', 'app=http://a/2'], /given twice for the client "app"; a client has one/);
    refused(['dev-provider', ...client, '--post-logout-redirect-uri', 'app=/logged-out'], /"\/logged-out" is not an absolute http\(s\) URL/);
    refused(['dev-provider', ...client, '--refresh-tokens=yes'], /^Option '--refresh-tokens' does not take an argument$/);
  });
});
