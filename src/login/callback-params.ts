import type { Context } from 'koa';
import { OpenIDError } from '../errors.js';

/** Body size limit for `response_mode=form_post` callbacks (bytes). */
export const MAX_FORM_BYTES = 64 * 1024;
const MAX_QUERY_LENGTH = 8 * 1024;
const MAX_VALUE_LENGTH: Record<string, number> = { id_token: 16 * 1024, access_token: 8 * 1024 };
const DEFAULT_MAX_VALUE_LENGTH = 4096;
const NOT_ASKED_FOR = new Set(['response', 'token']);

/** A parameter name fit to quote in an error message. */
const quote = (key: string) => key.slice(0, 32).replace(/[^\w-]/g, '?');

/** The urlencoded body of a POST to one of the library's routes (`what` names it in errors), at most {@link MAX_FORM_BYTES}. */
export async function readForm(ctx: Context, what = 'callback'): Promise<string> {
  const preParsed = (ctx.request as { body?: unknown }).body;
  if (preParsed !== undefined) {
    // A body parser ran before us: use what it parsed.
    // A parser turns repeated fields into arrays: those are refused like any repeated parameter.
    if (typeof preParsed === 'object' && preParsed !== null && Object.values(preParsed).every((v) => typeof v === 'string')) {
      return new URLSearchParams(preParsed as Record<string, string>).toString();
    }
    throw new OpenIDError('invalid_request', `the ${what} body could not be read`);
  }
  if (!ctx.is('application/x-www-form-urlencoded')) {
    throw new OpenIDError('invalid_request', `a POST to the ${what} route must be application/x-www-form-urlencoded`, { status: 415 });
  }
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > MAX_FORM_BYTES) throw new OpenIDError('invalid_request', `the ${what} body is too large`, { status: 413 });
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) throw new OpenIDError('invalid_request', `the ${what} body is too large`, { status: 413 });
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof OpenIDError) throw err;
    throw new OpenIDError('invalid_request', `the ${what} body could not be read`, { cause: err });
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The authorization response parameters of a callback: the query string for GET, the urlencoded
 * body for POST (`response_mode=form_post`). Repeated parameters (RFC 6749 §3.1) and oversized
 * values are refused with `invalid_request`.
 */
export async function callbackParams(ctx: Context): Promise<URLSearchParams> {
  let raw: string;
  if (ctx.method === 'POST') raw = await readForm(ctx);
  else {
    raw = ctx.querystring;
    if (raw.length > MAX_QUERY_LENGTH) throw new OpenIDError('invalid_request', 'the callback URL is too long', { status: 414 });
  }
  const params = new URLSearchParams(raw);
  const seen = new Set<string>();
  for (const [key, value] of params) {
    if (seen.has(key)) throw new OpenIDError('invalid_request', `the callback parameter "${quote(key)}" is repeated`);
    seen.add(key);
    // A JARM `response` or a bare `token` is nothing this client asked for (openid-client refuses
    // them before any request, which would otherwise read as an unreachable provider).
    if (NOT_ASKED_FOR.has(key)) throw new OpenIDError('invalid_request', `the callback carries a "${key}" parameter, which this client never asks for`);
    if (value.length > (MAX_VALUE_LENGTH[key] ?? DEFAULT_MAX_VALUE_LENGTH)) {
      throw new OpenIDError('invalid_request', `the callback parameter "${quote(key)}" is too long`);
    }
  }
  return params;
}
