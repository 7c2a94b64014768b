/**
 * `handleUserLogin`: the app keeps its own user table. After each validated login the user is
 * created or updated (keyed by provider + `sub`), first logins land on a welcome page, the others
 * where they were going, and a blocked user is refused by throwing (the library then removes the
 * login from the session again).
 *
 * Routes (besides the provider's `/openid/sso/...`):
 *   GET /          a login link, or who is logged in
 *   GET /welcome   after a first login
 *   GET /profile   the app's own record of the user (login required)
 */
import Router from '@koa/router';
import Koa from 'koa';
import type { Context } from 'koa';

import { OpenID, OpenIDError, redisSession } from '../../src/index.js';
import type { ProviderClient, Site } from '../shared/options.js';
import { escapeHtml, sendPage } from '../shared/page.js';

/** The app's own record of a user. */
export interface User {
  provider: string;
  sub: string;
  name: string;
  firstLoginAt: Date;
  lastLoginAt: Date;
  logins: number;
  blocked: boolean;
}

/**
 * A user table in memory: use your database instead. Users are keyed by provider + `sub`: `sub` is
 * unique and never reassigned, but only within one provider. Never key them by `email` or a user
 * name: those can change, and at some providers anyone can set them to someone else's.
 */
export class UserTable {
  readonly #users = new Map<string, User>();

  #key(provider: string, sub: string): string {
    return JSON.stringify([provider, sub]);
  }

  get(provider: string, sub: string): User | undefined {
    return this.#users.get(this.#key(provider, sub));
  }

  /** Creates the user or records another login; `created` tells which. */
  upsert(provider: string, sub: string, name: string): { user: User; created: boolean } {
    const now = new Date();
    const user = this.get(provider, sub);
    if (user) {
      Object.assign(user, { name, lastLoginAt: now, logins: user.logins + 1 });
      return { user, created: false };
    }
    const created: User = { provider, sub, name, firstLoginAt: now, lastLoginAt: now, logins: 1, blocked: false };
    this.#users.set(this.#key(provider, sub), created);
    return { user: created, created: true };
  }

  /** An admin blocks a user: their next logins are refused, and so are the sessions they have. */
  block(provider: string, sub: string): void {
    const user = this.get(provider, sub);
    if (!user) throw new Error(`no user ${sub} of ${provider}`);
    user.blocked = true;
  }
}

/** `baseUrl`: the redirect URI is `<baseUrl>/openid/sso/auth`. */
export interface CustomLoginAppOptions extends Site {
  provider: ProviderClient;
  /** The user table. Default: a new, empty one. */
  users?: UserTable;
}

export function createCustomLoginApp(opts: CustomLoginAppOptions): { app: Koa; users: UserTable; close(): Promise<void> } {
  const users = opts.users ?? new UserTable();
  const app = new Koa();
  const sessions = redisSession(app, { prefix: 'example-custom-login:', redis: opts.redisUrl });
  app.use(sessions);

  const sso = new OpenID(app, {
    name: 'sso',
    ...opts.provider, // configuration, clientId, clientSecret
    baseUrl: opts.baseUrl,
    scopes: ['openid', 'profile'],
    // Many providers put `name` into userinfo only: fetch it at login, into `login.claims`.
    userInfo: true,
    // Called once the login is validated and stored in the session.
    async handleUserLogin(ctx, login) {
      const { sub } = login.claims;
      if (users.get(login.provider, sub)?.blocked) {
        // Throwing refuses the user: the login is removed again, and the error is the answer
        // (an OpenIDError is rendered by the library: a 403 page, or JSON for API clients).
        throw new OpenIDError('forbidden', 'This account is blocked. Please contact support.');
      }
      const name = typeof login.claims.name === 'string' ? login.claims.name : sub;
      const { created } = users.upsert(login.provider, sub, name);
      // Setting a response replaces the default redirect to `returnTo`.
      ctx.redirect(created ? '/welcome' : login.returnTo);
    },
  });

  const router = new Router();
  const userOf = (ctx: Context) => users.get(sso.name, ctx.state.user!.sub!);
  // A login whose user is blocked meanwhile (or unknown: the table above forgets on restart,
  // sessions in Redis do not) is refused too: 403, with a link to log in again.
  const member = sso.required({ check: (claims) => users.get(sso.name, claims.sub!)?.blocked === false });

  router.get('/', sso.optional(), (ctx) => {
    const user = ctx.state.user && userOf(ctx);
    sendPage(
      ctx,
      'Custom login handler',
      user ? `<p>Logged in as ${escapeHtml(user.name)}. <a href="/profile">Your profile</a></p>` : `<p><a href="${escapeHtml(sso.loginUrl('/profile'))}">Log in</a></p>`,
    );
  });

  router.get('/welcome', member, (ctx) => {
    sendPage(ctx, `Welcome, ${userOf(ctx)!.name}!`, `<p>Your account has been created. <a href="/profile">Continue</a></p>`);
  });

  router.get('/profile', member, (ctx) => {
    const user = userOf(ctx)!;
    sendPage(
      ctx,
      user.name,
      `<dl>` +
        `<dt>Member since</dt><dd>${escapeHtml(user.firstLoginAt.toISOString())}</dd>` +
        `<dt>Last login</dt><dd>${escapeHtml(user.lastLoginAt.toISOString())}</dd>` +
        `<dt>Logins</dt><dd data-testid="logins">${user.logins}</dd></dl>`,
    );
  });

  app.use(router.routes());
  return { app, users, close: () => sessions.close() };
}
