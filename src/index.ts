export { OpenID, type VerifyTokenOptions } from './openid.js';
export { OpenIDError, ERROR_STATUS, isOpenIDError, type OpenIDErrorCode } from './errors.js';
export type { OpenIDOptions, ResolvedOptions, LoginResult, HandleUserLogin, HandleError } from './options.js';
export type { LoginOptions } from './authorize.js';
export type { RequiredOptions } from './guards.js';
export type { UserInfoOptions } from './userinfo.js';
export type { UserLogin } from './login-record.js';
export type { OpenIDState } from './state.js';
export * from './session/index.js';
