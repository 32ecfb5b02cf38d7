import { createHash } from 'node:crypto';

/**
 * Lua run inside Redis, so that each append and each page of history is one atomic step: no other
 * hub can append or trim between the checks and the reads.
 *
 * Every script takes the same KEYS: 1 the stream, 2 the newest stream id ever appended, 3 the hash
 * from publisher-supplied id to stream id, 4 the list of those supplied ids in stream order (so
 * that they are forgotten exactly when their event is trimmed), 5 the hash of kept states (canonical
 * topic → JSON [stream id, fields]), 6 the retained-count index (score 0, members
 * `topic NUL padded-id NUL id`, so one topic's events are a lexicographic range in stream order),
 * 7 the same members scored by their id's milliseconds (to forget them with the stream's trimming),
 * 8 the retired stream ids (scored by milliseconds), 9 the idempotency records (key → JSON
 * [fingerprint, stream id, fields]) and 10 their expiry times (key scored by the time it expires).
 *
 * A retired event (its topic's retained count passed it) keeps its stream entry: entries are
 * immutable, and deleting one from the middle would lose the `prev` link and topics that an exact
 * reset needs. Reads mark it retired and the hub never sends it; the stream's own MAXLEN/MINID frees
 * it (docs/architecture.md, "Per-topic retention").
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

local function nowMs()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end

local function padId(id)
  local ms, seq = splitId(id)
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end

-- The ids of these entries that their topic's retained count retired.
local function retiredAmong(entries)
  local retired = {}
  for _, entry in ipairs(entries) do
    if redis.call('ZSCORE', KEYS[8], entry[1]) then retired[#retired + 1] = entry[1] end
  end
  return retired
end

-- Retires the oldest events of a topic beyond its retained count (the newest is id).
local function retireBeyond(topic, id, count)
  local member = topic .. '\\0' .. padId(id) .. '\\0' .. id
  local ms = splitId(id)
  redis.call('ZADD', KEYS[6], 0, member)
  redis.call('ZADD', KEYS[7], ms, member)
  local low, high = '(' .. topic .. '\\0', '(' .. topic .. '\\1'
  local excess = redis.call('ZLEXCOUNT', KEYS[6], low, high) - count
  if excess <= 0 then return end
  for _, old in ipairs(redis.call('ZRANGEBYLEX', KEYS[6], low, high, 'LIMIT', 0, excess)) do
    redis.call('ZREM', KEYS[6], old)
    redis.call('ZREM', KEYS[7], old)
    local oldId = string.match(old, '([^%z]+)$')
    redis.call('ZADD', KEYS[8], (splitId(oldId)), oldId)
  end
end

-- Forgets index entries and retired marks of events the stream no longer holds, at most 'limit'
-- entries per call (a call must forget at least as many as it may have added, or the index grows).
local function forgetTrimmedRetention(stream, limit)
  local first = firstEntry(stream)
  local bound = '+inf'
  if first then bound = '(' .. splitId(first[1]) end
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', bound, 'LIMIT', 0, limit)) do
    redis.call('ZREM', KEYS[6], member)
    redis.call('ZREM', KEYS[7], member)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', bound)
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
 * Appends a batch of events, in order, as one atomic step. ARGV: max length, max age in ms (0:
 * none), deadline, then the events as one JSON array (one argument, so that a batch costs the
 * same few arguments to encode and parse however many events it holds). Each event is an array:
 * supplied id ('' when none), state topic ('' when not a state), state version ('' when none),
 * idempotency fingerprint ('' when no key), idempotency window in ms, idempotency key,
 * retained-count topic ('' when none), retained count, and its field/value strings as an array.
 *
 * Returns {'expired'} when Redis runs it after the deadline (in Redis's own clock, whole
 * milliseconds), storing nothing; otherwise {'done', replies}, one reply per event: {'stored', new
 * stream id}; {'recorded', JSON [fingerprint, stream id, fields]} when the idempotency key has a
 * live record; {'stale', kept version} when the state's version is not newer; or {'repeat', stream
 * id, fields} when the supplied id belongs to a retained event: then nothing is stored, and the
 * caller decides between an idempotent repeat and a conflict. Checking and adding in one script is
 * what keeps two hubs from both storing an event under the same supplied id or idempotency key; an
 * event sees the ones before it in its batch exactly as if they had been appended one by one.
 *
 * The deadline is the fence that makes a timed-out append's outcome knowable: the caller answers
 * "not stored" only once Redis's clock is certainly past it, so a command still waiting in the
 * socket (Redis stalled, then resumed) is refused when it finally runs.
 *
 * Idempotency records are bounded twice: each is forgotten once its window passed, and at most
 * max-length of them are kept (the soonest to expire goes first), so a flood of distinct keys
 * cannot grow Redis beyond the history's own bound.
 */
export const APPEND_SCRIPT = script(`
local now = nowMs()
if now > tonumber(ARGV[3]) then
  return { 'expired' }
end
local maxLength = ARGV[1]
-- The newest stream id, kept here and written back once after the batch.
local newest = redis.call('GET', KEYS[2]) or '0-0'

local function appendOne(event)
  local supplied = event[1]
  local stateTopic = event[2]
  local stateVersion = event[3]
  local fingerprint = event[4]
  local idempotencyKey = event[6]
  local retainTopic = event[7]
  if fingerprint ~= '' then
    for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[10], '-inf', now, 'LIMIT', 0, 100)) do
      redis.call('HDEL', KEYS[9], old)
      redis.call('ZREM', KEYS[10], old)
    end
    local untilMs = redis.call('ZSCORE', KEYS[10], idempotencyKey)
    if untilMs and tonumber(untilMs) > now then
      return { 'recorded', redis.call('HGET', KEYS[9], idempotencyKey) }
    end
  end
  if supplied ~= '' then
    local used = redis.call('HGET', KEYS[3], supplied)
    local entry = used and redis.call('XRANGE', KEYS[1], used, used)[1]
    if entry then
      if redis.call('ZSCORE', KEYS[8], entry[1]) then return { 'repeat', entry[1], { 'retired', '1' } } end
      return { 'repeat', entry[1], entry[2] }
    end
  end
  if stateTopic ~= '' and stateVersion ~= '' then
    local kept = redis.call('HGET', KEYS[5], stateTopic)
    if kept then
      local keptVersion = fieldOf(cjson.decode(kept), 'version')
      if keptVersion and tonumber(keptVersion) >= tonumber(stateVersion) then return { 'stale', keptVersion } end
    end
  end
  local fields = { 'prev', newest }
  for _, value in ipairs(event[9]) do fields[#fields + 1] = value end
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxLength, '*', unpack(fields))
  newest = id
  if stateTopic ~= '' then redis.call('HSET', KEYS[5], stateTopic, cjson.encode({ id, fields })) end
  if fingerprint ~= '' then
    redis.call('HSET', KEYS[9], idempotencyKey, cjson.encode({ fingerprint, id, fields }))
    redis.call('ZADD', KEYS[10], now + tonumber(event[5]), idempotencyKey)
    local excess = redis.call('ZCARD', KEYS[10]) - tonumber(maxLength)
    if excess > 0 then
      local popped = redis.call('ZPOPMIN', KEYS[10], excess)
      for i = 1, #popped, 2 do redis.call('HDEL', KEYS[9], popped[i]) end
    end
  end
  if supplied ~= '' then
    redis.call('HSET', KEYS[3], supplied, id)
    redis.call('RPUSH', KEYS[4], id .. ' ' .. supplied)
  end
  if retainTopic ~= '' then retireBeyond(retainTopic, id, tonumber(event[8])) end
  return { 'stored', id }
end

trimByAge(KEYS[1], tonumber(ARGV[2]))
forgetTrimmedSuppliedIds(KEYS[1], KEYS[3], KEYS[4])
local events = cjson.decode(ARGV[4])
local replies = {}
for _, event in ipairs(events) do replies[#replies + 1] = appendOne(event) end
redis.call('SET', KEYS[2], newest)
forgetTrimmedSuppliedIds(KEYS[1], KEYS[3], KEYS[4])
forgetTrimmedRetention(KEYS[1], 100 + #events)
return { 'done', replies }
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
 * ms (0: none). Returns {'ok', newest stream id, entries, retired ids among them, the newest trimmed
 * id ('0-0' when none; only after 'earliest')} or {'expired'} when entries right after the cursor
 * were trimmed.
 */
export const PAGE_SCRIPT = script(`
if tonumber(ARGV[3]) > 0 then
  trimByAge(KEYS[1], tonumber(ARGV[3]))
  forgetTrimmedSuppliedIds(KEYS[1], KEYS[3], KEYS[4])
end
local newest = redis.call('GET', KEYS[2]) or '0-0'
local through = trimmedThrough(KEYS[1], KEYS[2])
local entries
if ARGV[1] == 'earliest' then
  entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2])
  return { 'ok', newest, entries, retiredAmong(entries), through }
end
if compareIds(ARGV[1], through) < 0 then return { 'expired' } end
entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
return { 'ok', newest, entries, retiredAmong(entries), '0-0' }
`);

/**
 * ARGV: the stream id to read before ('' for the newest), page size, max age in ms (0: none).
 * Returns {newest stream id, entries newest first, retired ids among them}.
 */
export const LATEST_SCRIPT = script(`
if tonumber(ARGV[3]) > 0 then
  trimByAge(KEYS[1], tonumber(ARGV[3]))
  forgetTrimmedSuppliedIds(KEYS[1], KEYS[3], KEYS[4])
end
local newest = redis.call('GET', KEYS[2]) or '0-0'
local high = '+'
if ARGV[1] ~= '' then high = '(' .. ARGV[1] end
local entries = redis.call('XREVRANGE', KEYS[1], high, '-', 'COUNT', ARGV[2])
return { newest, entries, retiredAmong(entries) }
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
