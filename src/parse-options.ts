import type { z } from 'zod';

/**
 * Parses options with a zod schema; a failure becomes a `TypeError` naming the option:
 * `"clientId" is required`, `"maxAge" must be a positive number of milliseconds or 'session'`,
 * `new OpenID(): unknown option "clientSecrett"`.
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw new TypeError(`${what}: unknown option ${issue.keys.map((k) => `"${k}"`).join(', ')}`);
  }
  if (issue.path.length === 0) throw new TypeError(`${what}: options ${issue.message}`);
  const given = issue.path.length === 1 && typeof input === 'object' && input !== null ? (input as Record<PropertyKey, unknown>)[issue.path[0]!] : null;
  if (issue.code === 'invalid_type' && given === undefined) throw new TypeError(`"${issue.path.join('.')}" is required`);
  throw new TypeError(`"${issue.path.join('.')}" ${issue.message}`);
}
