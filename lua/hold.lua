--[[
  Hold: one person asks for tickets; they get a hold, a place in the line, or a refusal.
  One round trip does, in order: refuse at once what nothing can serve (sold out, see
  refuseSoldOut), the anti-bot gate (rate limits, proof-of-work), reclaim expired holds,
  serve the line, answer an idempotent replay, check the sale and the person's limits,
  then hold or queue.

  Input:
    KEYS[1..EVENT_KEYS]  the event's keys, as includes/context.lua lists them
    ARGV[1]  nowMs
    ARGV[2]  holdMs            how long a new or served hold lasts, unless the event sets its own (hold_ms)
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
    ARGV[14] ipPerS   ARGV[15] ipBurst   ARGV[16] userPerS   ARGV[17] userBurst   token buckets
    ARGV[18] gated             1 for a client's request; 0 for an internal caller (tests, benchmarks), which skips the gate
    ARGV[19] clientIp
    ARGV[20] powNonce          '' when no valid proof was given
    ARGV[21] powBits           difficulty of the presented proof; 0 when none
    ARGV[22] powExpiresAtMs    when the presented proof expires
    ARGV[23] identityVerified  1 when the request proved it is userId (a verified signed identity), else 0
    ARGV[24] unpaidRetentionMs how long bookings that ended unpaid stay readable; also the per-IP booking window
    ARGV[25] ipBookingsMax     bookings one client IP may make per event per window (gated requests only)

  Output: { 'ok', kind, id, state, ... } (see bookingReply)  kind = held | waiting | replay
      or  { errorCode, detail }
        EVENT_NOT_FOUND, RATE_LIMITED, POW_REQUIRED, POW_REUSED (see includes/gate.lua), SALE_CLOSED, PER_PERSON_LIMIT (detail: tickets still allowed),
        OPEN_BOOKING_EXISTS (detail: its id when identityVerified, else ''), IDEMPOTENCY_MISMATCH,
        IP_BOOKING_LIMIT (detail: ms until the window ends), LINE_FULL, SOLD_OUT
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"
--- @include "includes/admission"
--- @include "includes/gate"

local ctx, ev, nowMs, holdMs = openEvent(KEYS, ARGV)
if not ctx then return { 'EVENT_NOT_FOUND', '' } end
ctx.unpaidRetentionMs = tonumber(ARGV[24])
local gated = ARGV[18] == '1'
local req = { id = ARGV[3], token = ARGV[4], user = ARGV[5], qty = tonumber(ARGV[6]), email = ARGV[7],
  idemKey = ARGV[8], verified = ARGV[23] == '1', ip = gated and ARGV[19] or '', made = 0,
  powNonce = ARGV[20], powBits = tonumber(ARGV[21]), powExpiresAtMs = tonumber(ARGV[22]) }
local soldOut = refuseSoldOut(ctx, ev, nowMs, req)
if soldOut then return soldOut end
local idemTtlMs, reclaimMax, serveMax = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local lineMax, retentionMs = tonumber(ARGV[12]), tonumber(ARGV[13])

if gated then
  local rates = { ipPerS = tonumber(ARGV[14]), ipBurst = tonumber(ARGV[15]), userPerS = tonumber(ARGV[16]), userBurst = tonumber(ARGV[17]) }
  local refused = gate(ctx, ev, nowMs, rates, req)
  if refused then return refused end
end

reclaimExpired(ctx, ev, nowMs, reclaimMax, retentionMs)
serveLine(ctx, ev, nowMs, holdMs, serveMax, retentionMs)

return admit(ctx, ev, nowMs, holdMs, req, idemTtlMs, { lineMax = lineMax, ipBookingsMax = tonumber(ARGV[25]) })
