import { createHash } from 'node:crypto';

/**
 * The Lua scripts of {@link RedisStore}: each touches one key, so it is atomic and runs in a Redis
 * Cluster too. A session's own lifetime (field `m`: milliseconds or `session`) wins over the one
 * the caller passes.
 */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });

const LIFETIME = `
local function lifetime(k, ms, sessionTtl)
  local m = redis.call('hget', k, 'm')
  if m == 'session' then return sessionTtl, m end
  if m and tonumber(m) then return tonumber(m), m end
  return ms, m
end
`;

/** The fields (and values, flat) of `k` whose names start with one of ARGV[from], ARGV[from + 1], ... */
const WITH_PREFIX = `
local function withPrefix(k, from)
  local all = redis.call('hgetall', k)
  local out = {}
  for i = 1, #all, 2 do
    for j = from, #ARGV do
      if string.sub(all[i], 1, string.len(ARGV[j])) == ARGV[j] then
        out[#out + 1] = all[i]
        out[#out + 1] = all[i + 1]
        break
      end
    end
  end
  return out
end
`;

/**
 * ARGV: n conditions (field, 'v'|'a', value), n deleted prefixes, n deleted fields, n set pairs,
 * ttl mode ('' | 'reset' | 'extend'), ttl ms, sessionTtl, n keep-if prefixes (none left: the key
 * is deleted). Returns {1, fields, m, the lifetime set
 * (ms, 0: none), i}, or {0, the failed condition (from 1)}.
 */
export const CHANGE = script(`${LIFETIME}
local k = KEYS[1]
local i = 1
local n = tonumber(ARGV[i]); i = i + 1
for c = 1, n do
  local v = redis.call('hget', k, ARGV[i])
  if ARGV[i + 1] == 'a' then
    if v then return {0, c, false} end
  elseif v ~= ARGV[i + 2] then
    return {0, c, false}
  end
  i = i + 3
end
n = tonumber(ARGV[i]); i = i + 1
if n > 0 then
  for _, f in ipairs(redis.call('hkeys', k)) do
    for j = i, i + n - 1 do
      if string.sub(f, 1, string.len(ARGV[j])) == ARGV[j] then
        redis.call('hdel', k, f)
        break
      end
    end
  end
end
i = i + n
n = tonumber(ARGV[i]); i = i + 1
if n > 0 then redis.call('hdel', k, unpack(ARGV, i, i + n - 1)) end
i = i + n
n = tonumber(ARGV[i]); i = i + 1
if n > 0 then redis.call('hset', k, unpack(ARGV, i, i + 2 * n - 1)) end
i = i + 2 * n
n = tonumber(ARGV[i + 3])
if n > 0 then
  local keep = false
  for _, f in ipairs(redis.call('hkeys', k)) do
    for j = i + 4, i + 3 + n do
      if string.sub(f, 1, string.len(ARGV[j])) == ARGV[j] then keep = true; break end
    end
    if keep then break end
  end
  if not keep then redis.call('del', k) end
end
local len = redis.call('hlen', k)
local ttl, m = lifetime(k, tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
local set = 0
if len > 0 and ARGV[i] ~= '' then
  if ARGV[i] == 'reset' or redis.call('pttl', k) < ttl then
    redis.call('pexpire', k, math.ceil(ttl))
    set = math.ceil(ttl)
  end
end
return {1, len, m, set, redis.call('hget', k, 'i')}
`);

/**
 * ARGV: mode ('rolling' | 'renew'), ttl ms, sessionTtl, the secret's hash, fields... Reads the
 * fields; when the secret matches, restarts the lifetime (always, or once half of it is gone).
 * Returns {values, the lifetime set (ms, 0: none), m, i}.
 */
export const READ_TOUCH = script(`${LIFETIME}
local k = KEYS[1]
local values = redis.call('hmget', k, unpack(ARGV, 5))
if redis.call('hget', k, 'k') ~= ARGV[4] then return {values, 0, false} end
local ttl, m = lifetime(k, tonumber(ARGV[2]), tonumber(ARGV[3]))
if ARGV[1] == 'rolling' or redis.call('pttl', k) < ttl / 2 then
  redis.call('pexpire', k, math.ceil(ttl))
  return {values, math.ceil(ttl), m, redis.call('hget', k, 'i')}
end
return {values, 0, m}
`);

/**
 * ARGV: condition field, its value, the field to take, prefixes... Returns {value taken, then the
 * fields (and values) starting with a prefix}, or {nil}.
 */
export const TAKE = script(`${WITH_PREFIX}
if redis.call('hget', KEYS[1], ARGV[1]) ~= ARGV[2] then return {false} end
local v = redis.call('hget', KEYS[1], ARGV[3])
if not v then return {false} end
redis.call('hdel', KEYS[1], ARGV[3])
if #ARGV == 3 then return {v} end
local out = withPrefix(KEYS[1], 4)
table.insert(out, 1, v)
return out
`);

/** ARGV: condition field, its value. Deletes the key when it holds; returns 1 or 0. */
export const DESTROY = script(`
if redis.call('hget', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
return redis.call('del', KEYS[1])
`);

/** ARGV: prefixes... Returns the matching fields and values, flat. */
export const FIELDS_WITH_PREFIX = script(`${WITH_PREFIX}
return withPrefix(KEYS[1], 1)
`);

/** ARGV: member, expiry (ms since the epoch), now. Drops expired members; the set expires with its last. */
export const INDEX_ADD = script(`
redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[3])
local top = redis.call('zrange', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then redis.call('pexpireat', KEYS[1], top[2]) end
return 1
`);

/** ARGV: owner. Deletes the key when it holds that value (a lock is released by its owner only); returns 1 or 0. */
export const RELEASE = script(`
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('del', KEYS[1])
`);
