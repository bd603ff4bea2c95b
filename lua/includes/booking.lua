--[[
  One hash per booking at booking:{E}:<id>. States: waiting | held | paid | expired |
  cancelled | refunded. Every change goes through these helpers so it is logged.
]]
local BOOKING_FIELDS = { 'user', 'qty', 'state', 'seq', 'exp', 'amount', 'currency',
  'email', 'pay', 'reason', 'created', 'token', 'hseq' }

local function loadBooking(ctx, id)
  local key = ctx.bookingPrefix .. id
  local v = redis.call('HMGET', key, unpack(BOOKING_FIELDS))
  if not v[3] then return nil end
  return {
    id = id, key = key, user = v[1], qty = tonumber(v[2]), state = v[3], seq = tonumber(v[4]),
    exp = tonumber(v[5]) or 0, amount = tonumber(v[6]), currency = v[7], email = v[8] or '',
    pay = v[9] or '', reason = v[10] or '', created = tonumber(v[11]), token = v[12],
    hseq = tonumber(v[13]) or 0,
  }
end

-- Appends the booking as it now stands; the relay upserts whole rows, so replaying an
-- entry twice or out of order of other bookings changes nothing.
local function appendLog(ctx, kind, b, nowMs)
  redis.call('XADD', ctx.log, '*', 'k', kind, 'id', b.id, 'u', b.user, 'q', b.qty,
    's', b.state, 'seq', b.seq, 'at', nowMs, 'exp', b.exp, 'amt', b.amount,
    'cur', b.currency, 'em', b.email, 'pay', b.pay, 'why', b.reason, 'c', b.created, 'hs', b.hseq)
end

local function isTerminal(state)
  return state == 'expired' or state == 'cancelled' or state == 'refunded' or state == 'paid'
end

-- Writes state (and the fields that go with it), keeps terminal bookings only for the
-- retention period, and logs the change.
local function setState(ctx, b, state, reason, nowMs, retentionMs)
  b.state, b.reason = state, reason
  redis.call('HSET', b.key, 'state', state, 'reason', reason, 'exp', b.exp, 'pay', b.pay, 'hseq', b.hseq)
  if isTerminal(state) then redis.call('PEXPIRE', b.key, retentionMs) end
  appendLog(ctx, state, b, nowMs)
end

local function addTally(ctx, user, delta)
  if redis.call('HINCRBY', ctx.tally, user, delta) <= 0 then redis.call('HDEL', ctx.tally, user) end
end

local function closeOpen(ctx, b)
  if redis.call('HGET', ctx.open, b.user) == b.id then redis.call('HDEL', ctx.open, b.user) end
end

-- hseq numbers holds in the order they were granted: FCFS means it follows arrival order.
local function takeHold(ctx, ev, b, nowMs, holdMs)
  moveStock(ctx, ev, -b.qty, b.qty, 0)
  b.hseq = redis.call('HINCRBY', ctx.event, 'next_hold', 1)
  addTally(ctx, b.user, b.qty)
  b.exp = nowMs + holdMs
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

local function bookingReply(ctx, kind, b)
  local position = 0
  if b.state == 'waiting' then position = (redis.call('ZRANK', ctx.line, b.id) or -1) + 1 end
  return { 'ok', kind, b.id, b.state, b.qty, b.exp, position, b.token, b.user, b.amount,
    b.currency, b.reason }
end
