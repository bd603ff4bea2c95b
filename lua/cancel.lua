--[[
  Cancel: ends a waiting or held booking and gives held tickets back to the line.
  The person cancels with their token; the payment webhook releases a hold whose payment
  failed or whose checkout expired (reason other than 'user', no token needed).

  Input:
    KEYS[1] event:{E}       the event's key; its other keys are built from its hash tag (includes/context.lua)
    ARGV[1] nowMs
    ARGV[2] bookingId
    ARGV[3] token        the token's secret half; checked only when reason is 'user'
    ARGV[4] reason       user | payment_failed | checkout_expired
  The settings are the process's, written into the script when it loads (SETTINGS, includes/context.lua).

  Output: { 'ok', 'cancelled' | 'unchanged', id, state, ... } (see bookingReply)
      or  { 'BOOKING_NOT_FOUND', '' } | { 'NOT_CANCELLABLE', state }
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"

local ctx, ev, nowMs, holdMs = openEvent(KEYS, ARGV)
if not ctx then return { 'BOOKING_NOT_FOUND', '' } end
local bookingId, token, reason = ARGV[2], ARGV[3], ARGV[4]
reclaimExpired(ctx, ev, nowMs)

local b = loadBooking(ctx, bookingId)
if not b or (reason == 'user' and b.token ~= token) then return { 'BOOKING_NOT_FOUND', '' } end

local kind = STATE.cancelled
if b.state == STATE.held then
  releaseHold(ctx, ev, b, STATE.cancelled, reason, nowMs)
elseif b.state == STATE.waiting then
  leaveLine(ctx, b, STATE.cancelled, reason, nowMs)
elseif reason == 'user' then
  serveLine(ctx, ev, nowMs, holdMs)
  return { 'NOT_CANCELLABLE', b.state }
else
  -- A payment failure for a booking that is no longer held changes nothing.
  kind = 'unchanged'
end
serveLine(ctx, ev, nowMs, holdMs)
return bookingReply(ctx, kind, b)
