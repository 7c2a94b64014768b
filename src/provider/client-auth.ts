import * as client from 'openid-client';
import type { ResolvedOptions } from '../options.js';

/**
 * application/x-www-form-urlencoded (the WHATWG serializer): letters, digits and `*-._` stay as
 * they are, a space becomes `+`, every other byte of the UTF-8 is percent-encoded.
 */
export const formEncode = (value: string): string => new URLSearchParams([['', value]]).toString().slice(1);

/**
 * `client_secret_basic` as RFC 6749 §2.3.1 asks: the client id and secret form-urlencoded, then
 * HTTP Basic. openid-client (oauth4webapi) also escapes `-`, `.`, `_`, `!`, `~`, `*`, `'`, `(`, `)`,
 * so `my-app` goes out as `my%2Dapp`; providers that compare the raw value (Glewlwyd,
 * LemonLDAP::NG, ...) then refuse every client id or secret with a `-`, `.` or `_`. Here those
 * characters go on the wire unchanged, as every form encoder leaves them.
 */
export function clientSecretBasic(secret: string): client.ClientAuth {
  return (_as, metadata, _body, headers) => {
    const credentials = `${formEncode(metadata.client_id)}:${formEncode(secret)}`;
    headers.set('authorization', `Basic ${Buffer.from(credentials).toString('base64')}`);
  };
}

/**
 * The client authentication at the token endpoint: `tokenEndpointAuthMethod` when set, else `none`
 * without a secret, `client_secret_basic` when the provider lists it (or lists nothing: RFC 8414
 * §2), else `client_secret_post`.
 */
export function clientAuth(opts: ResolvedOptions, server: client.ServerMetadata): client.ClientAuth {
  const secret = opts.clientSecret;
  let method = opts.tokenEndpointAuthMethod;
  if (!method) {
    const supported = server.token_endpoint_auth_methods_supported;
    if (!secret) method = 'none';
    else if (!supported || supported.includes('client_secret_basic')) method = 'client_secret_basic';
    else method = 'client_secret_post';
  }
  switch (method) {
    case 'client_secret_basic':
      return clientSecretBasic(secret!);
    case 'client_secret_post':
      return client.ClientSecretPost(secret!);
    default:
      return client.None();
  }
}
