--[[
  One hash per booking at booking:{E}:<id>, its fields and states as engine/schema.ts
  defines them (read, written and logged by the include generated/schema). Every change
  goes through these helpers so it is logged.
]]

local function loadBooking(ctx, id)
  return readBooking(ctx.bookingPrefix .. id, id)
end

-- Appends the booking as it now stands; the relay upserts whole rows, so replaying an
-- entry twice or out of order of other bookings changes nothing.
local function appendLog(ctx, kind, b, nowMs)
  logBooking(ctx.log, kind, b, nowMs)
end

-- A replay answers from the booking's hash, so the Idempotency-Key of a booking that ended
-- unpaid is worth keeping no longer than the hash.
local function shortenIdempotencyKey(ctx, b, keepMs)
  if b.idem == '' then return end
  local key = ctx.idemPrefix .. b.user .. ':' .. b.idem
  if redis.call('PTTL', key) > keepMs then redis.call('PEXPIRE', key, keepMs) end
end

-- Writes state (and the fields that go with it), keeps terminal bookings only for their
-- retention, and logs the change. One that ended unpaid (expired, cancelled) is kept only
-- SETTINGS.unpaidRetentionMs: only a late payment needs it (PostgreSQL has it from the log),
-- and a hold-then-cancel loop would otherwise fill memory for SETTINGS.retentionMs.
local function setState(ctx, b, state, reason, nowMs)
  b.state, b.reason = state, reason
  redis.call('HSET', b.key, BOOKING.state, state, BOOKING.reason, reason, BOOKING.exp, b.exp,
    BOOKING.pay, b.pay, BOOKING.hseq, b.hseq)
  if isTerminal(state) then
    local keepMs = SETTINGS.retentionMs
    local unpaid = state == STATE.expired or state == STATE.cancelled
    if unpaid then keepMs = SETTINGS.unpaidRetentionMs end
    redis.call('PEXPIRE', b.key, keepMs)
    if unpaid then shortenIdempotencyKey(ctx, b, keepMs) end
  end
  appendLog(ctx, state, b, nowMs)
end

-- A person's entry in people:{E}, one field per userId (one read and one write where a tally
-- and an open-booking hash took two of each): '<tickets held + paid>', then ':<id>' while the
-- person has a waiting or held booking. No entry: no tickets, nothing open.
local function readPerson(ctx, user)
  local v = redis.call('HGET', ctx.people, user)
  if not v then return 0, nil end
  local sep = string.find(v, ':', 1, true)
  if not sep then return tonumber(v), nil end
  return tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1)
end

local function writePerson(ctx, user, tickets, openId)
  if openId then
    redis.call('HSET', ctx.people, user, tickets .. ':' .. openId)
  elseif tickets > 0 then
    redis.call('HSET', ctx.people, user, tickets)
  else
    redis.call('HDEL', ctx.people, user)
  end
end

-- Adds delta to b's person's tickets; with close, b is no longer their open booking.
local function updatePerson(ctx, b, delta, close)
  local tickets, openId = readPerson(ctx, b.user)
  if close and openId == b.id then openId = nil end
  writePerson(ctx, b.user, tickets + delta, openId)
end

-- hseq numbers holds in the order they were granted: FCFS means it follows arrival order.
-- The hold sequence and the earliest hold end go in the stock's HSET, with `also` (more
-- event fields: a new booking's arrival sequence). The caller counts the tickets to the person.
local function takeHold(ctx, ev, b, nowMs, holdMs, also)
  b.hseq, b.exp = ev.nextHold + 1, nowMs + holdMs
  local fields = also or {}
  fields[#fields + 1], fields[#fields + 2] = EVENT.nextHold, b.hseq
  -- An unknown bound (0) stays unknown: the next reclaim reads the index and sets it.
  if ev.holdsDueAtMs > b.exp then
    ev.holdsDueAtMs = b.exp
    fields[#fields + 1], fields[#fields + 2] = EVENT.holdsDueAtMs, b.exp
  end
  moveStock(ctx, ev, -b.qty, b.qty, 0, fields)
  ev.nextHold = b.hseq
  redis.call('ZADD', ctx.holds, b.exp, b.id)
end

-- Gives a held booking's tickets back to the pool (expiry, cancel, failed payment).
local function releaseHold(ctx, ev, b, state, reason, nowMs)
  redis.call('ZREM', ctx.holds, b.id)
  moveStock(ctx, ev, b.qty, -b.qty, 0)
  updatePerson(ctx, b, -b.qty, true)
  setState(ctx, b, state, reason, nowMs)
end

-- Takes a waiting booking out of the line without serving it.
local function leaveLine(ctx, b, state, reason, nowMs)
  redis.call('ZREM', ctx.line, b.id)
  updatePerson(ctx, b, 0, true)
  setState(ctx, b, state, reason, nowMs)
end

-- 1-based place in the line; 0 when not waiting.
local function linePosition(ctx, b)
  if b.state ~= STATE.waiting then return 0 end
  return (redis.call('ZRANK', ctx.line, b.id) or -1) + 1
end

-- The booking reply of hold, cancel, confirm and lookup (engine/commands.ts decodes it).
local function bookingReply(ctx, kind, b)
  return bookingReplyOf(kind, b, linePosition(ctx, b))
end
