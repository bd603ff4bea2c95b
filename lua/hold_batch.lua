--[[
  Hold for many people in one call (group commit): the engine coalesces concurrent holds for
  one event and sends them together, in the order they arrived. Expired holds are reclaimed
  and the line served once, then each request passes the gate and is admitted exactly as
  hold.lua does one, so a batch gives the same answers as the same requests one by one.

  Input:
    KEYS[1]  event:{E}         the event's key; its other keys are built from its hash tag (includes/context.lua)
    ARGV[1]  nowMs
    ARGV[2]  count             requests in this batch
    then per request, 12 entries: bookingId, token, userId, quantity, email, idempotencyKey,
      gated, clientIp, powNonce, powBits, powExpiresAtMs, identityVerified (as hold.lua's ARGV[2..13])
  The settings are the process's, written into the script when it loads (SETTINGS, includes/context.lua).

  Output: one reply per request, in order, each as hold.lua answers it
      or  { { 'EVENT_NOT_FOUND', '' } } once when the event is not live
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"
--- @include "includes/admission"
--- @include "includes/gate"

local REQUEST_FIELDS, HEAD = 12, 2
local count = tonumber(ARGV[HEAD])
if #ARGV ~= HEAD + count * REQUEST_FIELDS then error('hold_batch: ARGV holds ' .. #ARGV .. ' entries for ' .. count .. ' requests') end

local ctx, ev, nowMs, holdMs = openEvent(KEYS, ARGV)
if not ctx then return { { 'EVENT_NOT_FOUND', '' } } end

reclaimExpired(ctx, ev, nowMs)
serveLine(ctx, ev, nowMs, holdMs)

local replies = {}
for i = 0, count - 1 do
  local at = HEAD + i * REQUEST_FIELDS
  local gated = ARGV[at + 7] == '1'
  local req = { id = ARGV[at + 1], token = ARGV[at + 2], user = ARGV[at + 3], qty = tonumber(ARGV[at + 4]),
    email = ARGV[at + 5], idemKey = ARGV[at + 6], verified = ARGV[at + 12] == '1', ip = gated and ARGV[at + 8] or '',
    made = 0, powNonce = ARGV[at + 9], powBits = tonumber(ARGV[at + 10]), powExpiresAtMs = tonumber(ARGV[at + 11]) }
  replies[i + 1] = refuseSoldOut(ctx, ev, nowMs, req) or (gated and gate(ctx, ev, nowMs, req))
    or admit(ctx, ev, nowMs, holdMs, req)
end
return replies
