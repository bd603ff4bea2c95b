--[[
  Cancel: ends a waiting or held booking and gives held tickets back to the line.
  The person cancels with their token; the payment webhook releases a hold whose payment
  failed or whose checkout expired (reason other than 'user', no token needed).

  Input:
    KEYS[1..EVENT_KEYS]  the event's keys, as includes/context.lua lists them
    ARGV[1] nowMs
    ARGV[2] holdMs          for holds served from the line, unless the event sets its own (hold_ms)
    ARGV[3] bookingId
    ARGV[4] token        the token's secret half; checked only when reason is 'user'
    ARGV[5] reason       user | payment_failed | checkout_expired
    ARGV[6] reclaimMax
    ARGV[7] serveMax
    ARGV[8] retentionMs
    ARGV[9] unpaidRetentionMs   how long a booking that ended unpaid stays readable

  Output: { 'ok', 'cancelled' | 'unchanged', id, state, ... } (see bookingReply)
      or  { 'BOOKING_NOT_FOUND', '' } | { 'NOT_CANCELLABLE', state }
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"

local ctx, ev, nowMs, holdMs = openEvent(KEYS, ARGV)
if not ctx then return { 'BOOKING_NOT_FOUND', '' } end
ctx.unpaidRetentionMs = tonumber(ARGV[9])
local bookingId, token, reason = ARGV[3], ARGV[4], ARGV[5]
local reclaimMax, serveMax, retentionMs = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
reclaimExpired(ctx, ev, nowMs, reclaimMax, retentionMs)

local b = loadBooking(ctx, bookingId)
if not b or (reason == 'user' and b.token ~= token) then return { 'BOOKING_NOT_FOUND', '' } end

local kind = STATE.cancelled
if b.state == STATE.held then
  releaseHold(ctx, ev, b, STATE.cancelled, reason, nowMs, retentionMs)
elseif b.state == STATE.waiting then
  leaveLine(ctx, b, STATE.cancelled, reason, nowMs, retentionMs)
elseif reason == 'user' then
  serveLine(ctx, ev, nowMs, holdMs, serveMax, retentionMs)
  return { 'NOT_CANCELLABLE', b.state }
else
  -- A payment failure for a booking that is no longer held changes nothing.
  kind = 'unchanged'
end
serveLine(ctx, ev, nowMs, holdMs, serveMax, retentionMs)
return bookingReply(ctx, kind, b)
