--[[
  Hold: one person asks for tickets; they get a hold, a place in the line, or a refusal.
  One round trip does, in order: refuse at once what nothing can serve (sold out, see
  refuseSoldOut), the anti-bot gate (rate limits, proof-of-work), reclaim expired holds,
  serve the line, answer an idempotent replay, check the sale and the person's limits,
  then hold or queue.

  Input:
    KEYS[1]  event:{E}         the event's key; its other keys are built from its hash tag (includes/context.lua)
    ARGV[1]  nowMs
    ARGV[2]  bookingId         id for the booking if one is created (UUIDv7 from the caller)
    ARGV[3]  token             secret for the booking if one is created
    ARGV[4]  userId
    ARGV[5]  quantity
    ARGV[6]  email             '' when not given
    ARGV[7]  idempotencyKey    '' when not given
    ARGV[8]  gated             1 for a client's request; 0 for an internal caller (tests, benchmarks), which skips the gate
    ARGV[9]  clientIp
    ARGV[10] powNonce          '' when no valid proof was given
    ARGV[11] powBits           difficulty of the presented proof; 0 when none
    ARGV[12] powExpiresAtMs    when the presented proof expires
    ARGV[13] identityVerified  1 when the request proved it is userId (a verified signed identity), else 0
  The settings (hold length unless the event sets its own, Idempotency-Key lifetime, reclaim and
  serve bounds per call, line length, retentions, token bucket rates, bookings per IP) are the
  process's, written into the script when it loads (SETTINGS, includes/context.lua).

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

-- The sold-out refusal needs the event's head fields only; the rest is read once it is passed.
local ctx, ev, nowMs, holdMs = openEvent(KEYS, ARGV, true)
if not ctx then return { 'EVENT_NOT_FOUND', '' } end
local gated = ARGV[8] == '1'
local req = { id = ARGV[2], token = ARGV[3], user = ARGV[4], qty = tonumber(ARGV[5]), email = ARGV[6],
  idemKey = ARGV[7], verified = ARGV[13] == '1', ip = gated and ARGV[9] or '', made = 0,
  powNonce = ARGV[10], powBits = tonumber(ARGV[11]), powExpiresAtMs = tonumber(ARGV[12]) }
local soldOut = refuseSoldOut(ctx, ev, nowMs, req)
if soldOut then return soldOut end
readEventRest(ctx.event, ev)

if gated then
  local refused = gate(ctx, ev, nowMs, req)
  if refused then return refused end
end

reclaimExpired(ctx, ev, nowMs)
serveLine(ctx, ev, nowMs, holdMs)

return admit(ctx, ev, nowMs, holdMs, req)
