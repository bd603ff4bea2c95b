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
-- ctx.unpaidRetentionMs: only a late payment needs it (PostgreSQL has it from the log), and
-- a hold-then-cancel loop would otherwise fill memory for retentionMs.
local function setState(ctx, b, state, reason, nowMs, retentionMs)
  b.state, b.reason = state, reason
  redis.call('HSET', b.key, BOOKING.state, state, BOOKING.reason, reason, BOOKING.exp, b.exp,
    BOOKING.pay, b.pay, BOOKING.hseq, b.hseq)
  if isTerminal(state) then
    local keepMs = retentionMs
    local unpaid = state == STATE.expired or state == STATE.cancelled
    if unpaid then keepMs = ctx.unpaidRetentionMs end
    if not keepMs then error('invariant: the script did not set ctx.unpaidRetentionMs') end
    redis.call('PEXPIRE', b.key, keepMs)
    if unpaid then shortenIdempotencyKey(ctx, b, keepMs) end
  end
  appendLog(ctx, state, b, nowMs)
end

local function addTally(ctx, user, delta)
  if redis.call('HINCRBY', ctx.tally, user, delta) <= 0 then redis.call('HDEL', ctx.tally, user) end
end

local function closeOpen(ctx, b)
  if redis.call('HGET', ctx.open, b.user) == b.id then redis.call('HDEL', ctx.open, b.user) end
end

-- hseq numbers holds in the order they were granted: FCFS means it follows arrival order.
-- The hold sequence and the earliest hold end go in the stock's HSET, with `also` (more
-- event fields: a new booking's arrival sequence).
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
  addTally(ctx, b.user, b.qty)
  redis.call('ZADD', ctx.holds, b.exp, b.id)
end

-- Gives a held booking's tickets back to the pool (expiry, cancel, failed payment).
local function releaseHold(ctx, ev, b, state, reason, nowMs, retentionMs)
  redis.call('ZREM', ctx.holds, b.id)
  moveStock(ctx, ev, b.qty, -b.qty, 0)
  addTally(ctx, b.user, -b.qty)
  closeOpen(ctx, b)
  setState(ctx, b, state, reason, nowMs, retentionMs)
end

-- Takes a waiting booking out of the line without serving it.
local function leaveLine(ctx, b, state, reason, nowMs, retentionMs)
  redis.call('ZREM', ctx.line, b.id)
  closeOpen(ctx, b)
  setState(ctx, b, state, reason, nowMs, retentionMs)
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
