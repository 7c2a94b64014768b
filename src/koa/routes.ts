import type Koa from 'koa';
import type { Context, Middleware, Next } from 'koa';

export interface RouteHandlers {
  /** `GET`/`HEAD` of the login route. */
  login: Middleware;
  /** `GET`/`POST` of the callback route (it refuses the method its response mode does not use). */
  callback: Middleware;
  /** Any method of the back-channel logout route (it answers all but `POST` with 405). */
  backchannelLogout: Middleware;
  /** `GET`/`POST` of the logout route. */
  logout: Middleware;
  /** `GET` of the post-logout route. */
  loggedOut: Middleware;
  /** `GET` of the front-channel logout route. */
  frontchannelLogout: Middleware;
}

/** Each app's route table: path → the handler and the methods it takes. */
const tables = new WeakMap<Koa, Map<string, { methods: readonly string[]; handler: Middleware }>>();

/**
 * A provider's two routes on a Koa app, matched by exact path in one table per app: the app gets
 * one middleware for all its providers, and every other request passes with one map lookup (a
 * router per provider would run its matcher on each one). On a @koa/router `Router` the routes
 * are registered on it instead.
 */
export function addExactRoutes(
  app: Koa,
  paths: { login: string; auth: string; backchannelLogout: string; logout: string; loggedOut: string; frontchannelLogout: string },
  handlers: RouteHandlers,
): void {
  let table = tables.get(app);
  if (!table) {
    const routes = (table = new Map());
    tables.set(app, routes);
    app.use(function openidRoutes(ctx: Context, next: Next) {
      const route = routes.get(ctx.path);
      return route && route.methods.includes(ctx.method) ? route.handler(ctx, next) : next();
    });
  }
  table.set(paths.login, { methods: ['GET', 'HEAD'], handler: handlers.login });
  table.set(paths.auth, { methods: ['GET', 'POST'], handler: handlers.callback });
  table.set(paths.logout, { methods: ['GET', 'POST'], handler: handlers.logout });
  table.set(paths.loggedOut, { methods: ['GET', 'HEAD'], handler: handlers.loggedOut });
  table.set(paths.frontchannelLogout, { methods: ['GET'], handler: handlers.frontchannelLogout });
  table.set(paths.backchannelLogout, { methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], handler: handlers.backchannelLogout });
}
