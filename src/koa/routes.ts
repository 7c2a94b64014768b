import type { Context, Middleware, Next } from 'koa';

export interface RouteHandlers {
  /** `GET`/`HEAD` of the login route. */
  login: Middleware;
  /** `GET`/`POST` of the callback route (it refuses the method its response mode does not use). */
  callback: Middleware;
}

/**
 * A provider's two routes on a Koa app, matched by exact path: every other request of the app
 * passes with two string comparisons (a router per provider would run its matcher on each one).
 * On a @koa/router `Router` the routes are registered on it instead.
 */
export function exactRoutes(paths: { login: string; auth: string }, handlers: RouteHandlers): Middleware {
  return function openidRoutes(ctx: Context, next: Next) {
    const path = ctx.path;
    if (path === paths.login && (ctx.method === 'GET' || ctx.method === 'HEAD')) return handlers.login(ctx, next);
    if (path === paths.auth && (ctx.method === 'GET' || ctx.method === 'POST')) return handlers.callback(ctx, next);
    return next();
  };
}
