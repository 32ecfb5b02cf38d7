import { createHash } from 'node:crypto';

/**
 * Lua run inside Redis, so that each append and each page of history is one atomic step: no other
 * hub can append or trim between the checks and the reads.
 *
 * Every script takes the same KEYS: the stream, the newest stream id ever appended, the hash from
 * publisher-supplied id to stream id, the list of those supplied ids in stream order (so that
 * they are forgotten exactly when their event is trimmed), the hash of kept states (canonical topic
 * → JSON [stream id, fields]), and the append's idempotency record key (a placeholder otherwise).
 *
 * Each entry records `prev`, the stream id appended right before it. After trimming, the oldest
 * retained entry's `prev` is therefore the newest id that is gone: resuming from exactly that id
 * misses nothing, resuming from anything older would. Redis itself does not remember what trimming
 * removed (`max-deleted-entry-id` only counts XDEL).
 */

export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function script(body: string): LuaScript {
  const source = `${HELPERS}\n${body}`;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const HELPERS = `
local MAX_PART = '18446744073709551615'

local function comparePart(a, b)
  if #a ~= #b then if #a < #b then return -1 else return 1 end end
  if a == b then return 0 end
  if a < b then return -1 else return 1 end
end

local function splitId(id)
  return string.match(id, '^(%d+)%-(%d+)$')
end

local function canonicalPart(part)
  if part == nil or #part > 20 then return false end
  if #part > 1 and string.sub(part, 1, 1) == '0' then return false end
  return comparePart(part, MAX_PART) <= 0
end

local function isStreamId(id)
  local ms, seq = splitId(id)
  return canonicalPart(ms) and canonicalPart(seq)
end

local function compareIds(a, b)
  local am, as = splitId(a)
  local bm, bs = splitId(b)
  local c = comparePart(am, bm)
  if c ~= 0 then return c end
  return comparePart(as, bs)
end

local function fieldOf(entry, name)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function firstEntry(stream)
  return redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
end

-- The newest stream id that is no longer retained; '0-0' when nothing was ever trimmed.
local function trimmedThrough(stream, lastKey)
  local first = firstEntry(stream)
  if first then return fieldOf(first, 'prev') or '0-0' end
  return redis.call('GET', lastKey) or '0-0'
end

local function trimByAge(stream, maxAgeMs)
  if maxAgeMs <= 0 then return end
  local now = redis.call('TIME')
  local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  local oldest = nowMs - maxAgeMs
  if oldest < 0 then return end
  -- Exact, not '~': an event older than the age limit must not be resumable on one hub and
  -- expired on another depending on how Redis happened to pack its nodes.
  redis.call('XTRIM', stream, 'MINID', string.format('%.0f', oldest) .. '-0')
end

local function forgetTrimmedSuppliedIds(stream, idsKey, orderKey)
  local first = nil
  while true do
    local head = redis.call('LINDEX', orderKey, 0)
    if not head then return end
    first = first or firstEntry(stream) or false
    local space = string.find(head, ' ', 1, true)
    local streamId = string.sub(head, 1, space - 1)
    if first and compareIds(streamId, first[1]) >= 0 then return end
    redis.call('LPOP', orderKey)
    local supplied = string.sub(head, space + 1)
    if redis.call('HGET', idsKey, supplied) == streamId then redis.call('HDEL', idsKey, supplied) end
  end
end
`;

/**
 * ARGV: max length, max age in ms (0: none), supplied id ('' when none), deadline, state topic (''
 * when not a state), state version ('' when none), idempotency fingerprint ('' when no key),
 * idempotency window in ms, then the entry's field/value pairs. Returns {'stored', new stream id};
 * {'expired'} when Redis runs it after the deadline (in Redis's own clock, whole milliseconds),
 * storing nothing; {'recorded', JSON [fingerprint, stream id, fields]} when the idempotency key has
 * a record; {'stale', kept version} when the state's version is not newer; or {'repeat', stream
 * id, fields} when the supplied id belongs to a retained event: then nothing is stored, and the
 * caller decides between an idempotent repeat and a conflict. Checking and adding in one script is
 * what keeps two hubs from both storing an event under the same supplied id or idempotency key.
 *
 * The deadline is the fence that makes a timed-out append's outcome knowable: the caller answers
 * "not stored" only once Redis's clock is certainly past it, so a command still waiting in the
 * socket (Redis stalled, then resumed) is refused when it finally runs.
 */
export const APPEND_SCRIPT = script(`
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[4]) then
  return { 'expired' }
end
local supplied = ARGV[3]
local stateTopic = ARGV[5]
local fingerprint = ARGV[7]
if fingerprint ~= '' then
  local record = redis.call('GET', KEYS[6])
  if record then return { 'recorded', record } end
end
trimByAge(KEYS[1], tonumber(ARGV[2]))
forgetTrimmedSuppliedIds(KEYS[1], KEYS[3], KEYS[4])
if supplied ~= '' then
  local used = redis.call('HGET', KEYS[3], supplied)
  local entry = used and redis.call('XRANGE', KEYS[1], used, used)[1]
  if entry then return { 'repeat', entry[1], entry[2] } end
end
if stateTopic ~= '' and ARGV[6] ~= '' then
  local kept = redis.call('HGET', KEYS[5], stateTopic)
  if kept then
    local keptVersion = fieldOf(cjson.decode(kept), 'version')
    if keptVersion and tonumber(keptVersion) >= tonumber(ARGV[6]) then return { 'stale', keptVersion } end
  end
end
local prev = redis.call('GET', KEYS[2]) or '0-0'
local fields = { 'prev', prev }
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
redis.call('SET', KEYS[2], id)
if stateTopic ~= '' then redis.call('HSET', KEYS[5], stateTopic, cjson.encode({ id, fields })) end
if fingerprint ~= '' then
  redis.call('SET', KEYS[6], cjson.encode({ fingerprint, id, fields }), 'PX', ARGV[8])
end
if supplied ~= '' then
  redis.call('HSET', KEYS[3], supplied, id)
  redis.call('RPUSH', KEYS[4], id .. ' ' .. supplied)
end
forgetTrimmedSuppliedIds(KEYS[1], KEYS[3], KEYS[4])
return { 'stored', id }
`);

/**
 * ARGV: a client's last event id (a supplied id or a stream id), max age in ms (0: none). Returns
 * {'ok', stream id} or {'unknown'} / {'expired'} / {'earlier'}: 'earlier' is a well-formed stream id
 * older than everything this stream ever held, from a Redis whose data was lost since.
 */
export const LOCATE_SCRIPT = script(`
if tonumber(ARGV[2]) > 0 then
  trimByAge(KEYS[1], tonumber(ARGV[2]))
  forgetTrimmedSuppliedIds(KEYS[1], KEYS[3], KEYS[4])
end
local cursor = redis.call('HGET', KEYS[3], ARGV[1]) or ARGV[1]
if not isStreamId(cursor) then return { 'unknown' } end
local newest = redis.call('GET', KEYS[2]) or '0-0'
if compareIds(cursor, newest) > 0 then return { 'unknown' } end
local through = trimmedThrough(KEYS[1], KEYS[2])
local order = compareIds(cursor, through)
if order < 0 then return { 'expired' } end
if order == 0 and through == '0-0' then return { 'unknown' } end
if order > 0 and #redis.call('XRANGE', KEYS[1], cursor, cursor) == 0 then
  local first = firstEntry(KEYS[1])
  if through == '0-0' and first and compareIds(cursor, first[1]) < 0 then return { 'earlier' } end
  return { 'unknown' }
end
return { 'ok', cursor }
`);

/**
 * ARGV: the stream id to read after ('earliest': from the oldest retained), page size, max age in
 * ms (0: none). Returns {'ok', newest stream id, entries} or {'expired'} when entries right after
 * the cursor were trimmed.
 */
export const PAGE_SCRIPT = script(`
if tonumber(ARGV[3]) > 0 then
  trimByAge(KEYS[1], tonumber(ARGV[3]))
  forgetTrimmedSuppliedIds(KEYS[1], KEYS[3], KEYS[4])
end
local newest = redis.call('GET', KEYS[2]) or '0-0'
if ARGV[1] == 'earliest' then
  return { 'ok', newest, redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2]) }
end
if compareIds(ARGV[1], trimmedThrough(KEYS[1], KEYS[2])) < 0 then return { 'expired' } end
return { 'ok', newest, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]) }
`);

/**
 * ARGV: exact topics (none: every kept state). Returns {newest stream id, or '0-0'; JSON [stream
 * id, fields] of each kept state asked for}: the states and the cursor they are current at, read
 * in one atomic step.
 */
export const STATES_SCRIPT = script(`
local newest = redis.call('GET', KEYS[2]) or '0-0'
local states = {}
if #ARGV == 0 then
  local all = redis.call('HGETALL', KEYS[5])
  for i = 2, #all, 2 do states[#states + 1] = all[i] end
else
  for _, value in ipairs(redis.call('HMGET', KEYS[5], unpack(ARGV))) do
    if value then states[#states + 1] = value end
  end
end
return { newest, states }
`);

/** No ARGV. Returns {newest stream id ever appended, or '0-0'}. */
export const NEWEST_SCRIPT = script(`
return { redis.call('GET', KEYS[2]) or '0-0' }
`);
