--[[
  Hold: one person asks for tickets; they get a hold, a place in the line, or a refusal.
  One round trip does, in order: reclaim expired holds, serve the line, answer an
  idempotent replay, check the sale and the person's limits, then hold or queue.

  Input:
    KEYS[1..8]  the event's keys (see includes/context.lua)
    ARGV[1]  nowMs
    ARGV[2]  holdMs            how long a new or served hold lasts
    ARGV[3]  bookingId         id for the booking if one is created (UUIDv7 from the caller)
    ARGV[4]  token             secret for the booking if one is created
    ARGV[5]  userId
    ARGV[6]  quantity
    ARGV[7]  email             '' when not given
    ARGV[8]  idempotencyKey    '' when not given
    ARGV[9]  idempotencyTtlMs
    ARGV[10] reclaimMax        expired holds reclaimed per call at most
    ARGV[11] serveMax          line entries served per call at most
    ARGV[12] lineMax           waiting line length at most
    ARGV[13] retentionMs       how long finished bookings stay readable

  Output: { 'ok', kind, id, state, quantity, expiresAtMs, position, token, userId,
            amount, currency, reason }  kind = held | waiting | replay
      or  { errorCode, detail }
        EVENT_NOT_FOUND, SALE_CLOSED, PER_PERSON_LIMIT (detail: tickets still allowed),
        OPEN_BOOKING_EXISTS (detail: its id), IDEMPOTENCY_MISMATCH, LINE_FULL, SOLD_OUT
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"

local ctx = eventContext(KEYS)
local nowMs, holdMs = tonumber(ARGV[1]), tonumber(ARGV[2])
local bookingId, token, userId = ARGV[3], ARGV[4], ARGV[5]
local quantity, email, idemKey = tonumber(ARGV[6]), ARGV[7], ARGV[8]
local idemTtlMs, reclaimMax, serveMax = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local lineMax, retentionMs = tonumber(ARGV[12]), tonumber(ARGV[13])

local ev = loadEvent(ctx)
if not ev then return { 'EVENT_NOT_FOUND', '' } end

reclaimExpired(ctx, ev, nowMs, reclaimMax, retentionMs)
serveLine(ctx, ev, nowMs, holdMs, serveMax, retentionMs)

local idemFull = ''
if idemKey ~= '' then
  idemFull = ctx.idemPrefix .. userId .. ':' .. idemKey
  local priorId = redis.call('GET', idemFull)
  if priorId then
    local prior = loadBooking(ctx, priorId)
    if prior then
      if prior.qty ~= quantity then return { 'IDEMPOTENCY_MISMATCH', priorId } end
      return bookingReply(ctx, 'replay', prior)
    end
  end
end

if saleOver(ev, nowMs) then return { 'SALE_CLOSED', '' } end
local tally = tonumber(redis.call('HGET', ctx.tally, userId) or '0')
if tally + quantity > ev.maxPerUser then return { 'PER_PERSON_LIMIT', ev.maxPerUser - tally } end
local openId = redis.call('HGET', ctx.open, userId)
if openId then return { 'OPEN_BOOKING_EXISTS', openId } end

local lineLength = redis.call('ZCARD', ctx.line)
local canHoldNow = saleOpen(ev, nowMs) and lineLength == 0 and ev.instock >= quantity
if not canHoldNow then
  -- Tickets can still come back only from holds; paid ones rarely do.
  if ev.instock + ev.held < quantity then return { 'SOLD_OUT', '' } end
  if lineLength >= lineMax then return { 'LINE_FULL', lineMax } end
end

local b = {
  id = bookingId, key = ctx.bookingPrefix .. bookingId, user = userId, qty = quantity,
  seq = redis.call('HINCRBY', ctx.event, 'next_seq', 1), exp = 0, hseq = 0,
  amount = ev.price * quantity, currency = ev.currency, email = email, pay = '',
  reason = '', created = nowMs, token = token,
}
local kind
if canHoldNow then
  takeHold(ctx, ev, b, nowMs, holdMs)
  b.state, kind = 'held', 'held'
else
  redis.call('ZADD', ctx.line, b.seq, b.id)
  b.state, kind = 'waiting', 'waiting'
end
redis.call('HSET', b.key, 'user', b.user, 'qty', b.qty, 'state', b.state, 'seq', b.seq,
  'exp', b.exp, 'amount', b.amount, 'currency', b.currency, 'email', b.email, 'pay', '',
  'reason', '', 'created', b.created, 'token', b.token, 'hseq', b.hseq)
redis.call('HSET', ctx.open, userId, b.id)
if idemFull ~= '' then redis.call('SET', idemFull, b.id, 'PX', idemTtlMs) end
appendLog(ctx, b.state, b, nowMs)

return bookingReply(ctx, kind, b)
