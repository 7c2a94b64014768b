import { debuglog } from 'node:util';

/** Diagnostics: `NODE_DEBUG=koa-session-openid`. Never pass a token or a secret. */
export const debug = debuglog('koa-session-openid');
