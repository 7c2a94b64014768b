export { OpenID, type VerifyTokenOptions } from './koa/openid.js';
export { OpenIDError, ERROR_STATUS, isOpenIDError, type OpenIDErrorCode } from './errors.js';
export type { OpenIDOptions, ResolvedOptions, LoginResult, HandleUserLogin, HandleError } from './options.js';
export type { LoginOptions } from './login/authorize.js';
export type { RequiredOptions } from './koa/guards.js';
export type { BearerOptions } from './api/bearer.js';
export type { UserInfoOptions } from './provider/userinfo.js';
export type { OpenIDState, UserLogin } from './state.js';
export * from './session/index.js';
