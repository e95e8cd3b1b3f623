"""The Lua that admits and settles a client key's request inside Redis, in one round trip.

It is ``providers.clients.window`` said again in Lua (the contract tests hold the two
to the same answers): a window is JSON (``encode_window``), the minute's counts in two
rings of 60 one-second slots, its holds by id. The calendar stays in Python: the caller passes the
start and end of the day, week and month holding ``now`` (``window.period_bounds``).
A key's hash is compared as the SHA-1 of a one-time nonce and each side, so the time the
comparison takes says nothing about the kept hash.
"""

from __future__ import annotations

#: fresh(raw window, period, now, bounds): the window with what fell out dropped.
_WINDOW = """
local PERIODS = {day = 1, week = 3, month = 5}
local SLOTS = 60
local function given(v) return v ~= nil and v ~= cjson.null end
local function bounds_of(first)
  local b = {}
  for i = 0, 5 do b[i + 1] = tonumber(ARGV[first + i]) end
  return b
end
-- A ring of the minute's counts (slot second % 60, one-based here); counts kept by
-- second (an entry written before the rings) are read into one.
local function ring(counts, last)
  if type(counts) == 'table' and #counts == SLOTS then return counts end
  local r = {}
  for i = 1, SLOTS do r[i] = 0 end
  for s, n in pairs(type(counts) == 'table' and counts or {}) do
    local at = tonumber(s)
    if at > last - SLOTS then r[at % SLOTS + 1] = r[at % SLOTS + 1] + n end
  end
  return r
end
local function fresh(raw, period, now, bounds)
  local w = (raw and cjson.decode(raw)) or {}
  local second = math.floor(now)
  local day = math.floor(now / 86400)
  local start = bounds[PERIODS[period] or 5]
  local last = w.second
  if not given(last) then
    last = 0
    for _, counts in ipairs({w.requests or {}, w.tokens or {}}) do
      if #counts ~= SLOTS then
        for s in pairs(counts) do last = math.max(last, tonumber(s)) end
      end
    end
  end
  w.requests, w.tokens = ring(w.requests, last), ring(w.tokens, last)
  local gap = second - last
  if gap >= SLOTS then
    for i = 1, SLOTS do w.requests[i] = 0; w.tokens[i] = 0 end
  elseif gap > 0 then
    for past = last + 1, second do
      w.requests[past % SLOTS + 1] = 0; w.tokens[past % SLOTS + 1] = 0
    end
  end
  w.second = math.max(second, last)
  if w.day ~= day then w.day = day; w.day_tokens = 0 end
  if w.period ~= start then w.period = start; w.spent = 0 end
  local held = {}
  for h, v in pairs(w.held or {}) do if v[1] > now then held[h] = v end end
  w.held = held
  w.day_tokens = w.day_tokens or 0
  w.spent = w.spent or 0
  return w
end
local function add(counts, now, n)
  local slot = math.floor(now) % SLOTS + 1
  counts[slot] = counts[slot] + n
end
"""

#: KEYS: the prefix's key. ARGV: 1 record key base, 2 window key base, 3 digest, 4 nonce,
#: 5 now, 6 hold, 7 reserve, 8 lease, 9-14 period bounds. Answers {0} (no such key) or
#: {1, record, refusal or '', retry after or '', window or ''}.
ADMIT = (
    _WINDOW
    + """
local function total(counts)
  local t = 0
  for i = 1, SLOTS do t = t + counts[i] end
  return t
end
local function free_in(counts, last, limit, now)
  local t = total(counts)
  for second = last - SLOTS + 1, last do
    t = t - counts[second % SLOTS + 1]
    if t < limit then return second + 60 - now end
  end
  return 60
end
local function refused(w, lim, reserve, now, bounds)
  local held, reserved = 0, 0
  for _, v in pairs(w.held) do held = held + 1; reserved = reserved + v[2] end
  if given(lim.max_concurrent) and held >= lim.max_concurrent then
    return 'max_concurrent', 1
  end
  if given(lim.rpm) and total(w.requests) >= lim.rpm then
    return 'rpm', free_in(w.requests, w.second, lim.rpm, now)
  end
  if given(lim.tpm) and total(w.tokens) >= lim.tpm then
    return 'tpm', free_in(w.tokens, w.second, lim.tpm, now)
  end
  if given(lim.daily_tokens) and w.day_tokens >= lim.daily_tokens then
    return 'daily_tokens', (w.day + 1) * 86400 - now
  end
  if given(lim.budget) and w.spent + reserved + reserve > lim.budget then
    if w.spent + reserve > lim.budget then
      return 'budget', bounds[(PERIODS[lim.period] or 5) + 1] - now
    end
    return 'budget', 1
  end
  return nil
end

local name = redis.call('GET', KEYS[1])
if not name then return {0} end
local raw = redis.call('GET', ARGV[1] .. name)
if not raw then return {0} end
local rec = cjson.decode(raw)
if redis.sha1hex(ARGV[4] .. (rec.digest or '')) ~= redis.sha1hex(ARGV[4] .. ARGV[3]) then
  return {0}
end
local now = tonumber(ARGV[5])
if given(rec.revoked) then return {1, raw, 'revoked', '', ''} end
if given(rec.expires) and now >= rec.expires then return {1, raw, 'expired', '', ''} end
local lim = rec.limits
if not (given(lim.rpm) or given(lim.tpm) or given(lim.daily_tokens)
        or given(lim.max_concurrent) or given(lim.budget)) then
  return {1, raw, '', '', ''}
end
local bounds = bounds_of(9)
local wkey = ARGV[2] .. name
local w = fresh(redis.call('GET', wkey), lim.period, now, bounds)
local reserve = tonumber(ARGV[7])
local why, after = refused(w, lim, reserve, now, bounds)
if why then
  return {1, raw, why, tostring(math.max(after, 1)), ''}
end
add(w.requests, now, 1)
if given(lim.tpm) or given(lim.daily_tokens) or given(lim.max_concurrent) or given(lim.budget) then
  w.held[ARGV[6]] = {now + tonumber(ARGV[8]), reserve}
end
local out = cjson.encode(w)
redis.call('SET', wkey, out)
return {1, raw, '', '', out}
"""
)

#: KEYS: the record's key, the window's key. ARGV: 1 hold, 2 tokens, 3 cost, 4 now,
#: 5-10 period bounds. Answers the window written, or false (no such key).
SETTLE = (
    _WINDOW
    + """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local rec = cjson.decode(raw)
local now = tonumber(ARGV[4])
local w = fresh(redis.call('GET', KEYS[2]), rec.limits.period, now, bounds_of(5))
w.held[ARGV[1]] = nil
local tokens = tonumber(ARGV[2])
if tokens > 0 then
  add(w.tokens, now, tokens)
  w.day_tokens = w.day_tokens + tokens
end
w.spent = w.spent + tonumber(ARGV[3])
local out = cjson.encode(w)
redis.call('SET', KEYS[2], out)
return out
"""
)

#: KEYS: the prefix's key. ARGV: 1 record key base, 2 window key base. Answers
#: {record, window or ''}, or false.
LOOKUP = """
local name = redis.call('GET', KEYS[1])
if not name then return false end
local raw = redis.call('GET', ARGV[1] .. name)
if not raw then return false end
return {raw, redis.call('GET', ARGV[2] .. name) or ''}
"""

#: KEYS: a record's key, its window's key. Splits an entry written before the window had
#: a key of its own (record and window in one JSON) into the two; 1 if it did.
SPLIT = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local e = cjson.decode(raw)
if e.record == nil then return 0 end
redis.call('SET', KEYS[1], cjson.encode(e.record))
redis.call('SET', KEYS[2], cjson.encode(e.window or {}))
return 1
"""

#: KEYS: a record's key, its prefix's old key, its new one. ARGV: 1 the record as read,
#: 2 the new record, 3 the new prefix ('' if it stays), 4 the name. Writes only if the
#: record is still the one read: 1, else the record as it is now (0 if gone).
SWAP = """
local now = redis.call('GET', KEYS[1])
if not now then return 0 end
if now ~= ARGV[1] then return now end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[3], ARGV[4])
end
return 1
"""

#: KEYS: the record's key, its prefix's key, the set of names, the window's key. ARGV: 1 the
#: record, 2 the name, 3 the window. 0 when the name is taken.
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[4], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
"""
