--[[
  Hold for many people in one call (group commit): the engine coalesces concurrent holds for
  one event and sends them together, in the order they arrived. Expired holds are reclaimed
  and the line served once, then each request passes the gate and is admitted exactly as
  hold.lua does one, so a batch gives the same answers as the same requests one by one.

  Input:
    KEYS[1..EVENT_KEYS]  the event's keys, as includes/context.lua lists them
    ARGV[1]  nowMs
    ARGV[2]  holdMs            unless the event sets its own (hold_ms)
    ARGV[3]  idempotencyTtlMs
    ARGV[4]  reclaimMax
    ARGV[5]  serveMax
    ARGV[6]  lineMax
    ARGV[7]  retentionMs
    ARGV[8]  ipPerS   ARGV[9] ipBurst   ARGV[10] userPerS   ARGV[11] userBurst   token buckets
    ARGV[12] unpaidRetentionMs
    ARGV[13] ipBookingsMax
    ARGV[14] count             requests in this batch
    then per request, 12 entries: bookingId, token, userId, quantity, email, idempotencyKey,
      gated, clientIp, powNonce, powBits, powExpiresAtMs, identityVerified (as hold.lua's ARGV[3..8] and [18..23])

  Output: one reply per request, in order, each as hold.lua answers it
      or  { { 'EVENT_NOT_FOUND', '' } } once when the event is not live
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"
--- @include "includes/admission"
--- @include "includes/gate"

local REQUEST_FIELDS, HEAD = 12, 14
local idemTtlMs = tonumber(ARGV[3])
local reclaimMax, serveMax, lineMax = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local retentionMs = tonumber(ARGV[7])
local rates = { ipPerS = tonumber(ARGV[8]), ipBurst = tonumber(ARGV[9]), userPerS = tonumber(ARGV[10]), userBurst = tonumber(ARGV[11]) }
local count = tonumber(ARGV[HEAD])
if #ARGV ~= HEAD + count * REQUEST_FIELDS then error('hold_batch: ARGV holds ' .. #ARGV .. ' entries for ' .. count .. ' requests') end

local ctx, ev, nowMs, holdMs = openEvent(KEYS, ARGV)
if not ctx then return { { 'EVENT_NOT_FOUND', '' } } end
ctx.unpaidRetentionMs = tonumber(ARGV[12])
local limits = { lineMax = lineMax, ipBookingsMax = tonumber(ARGV[13]) }

reclaimExpired(ctx, ev, nowMs, reclaimMax, retentionMs)
serveLine(ctx, ev, nowMs, holdMs, serveMax, retentionMs)

local replies = {}
for i = 0, count - 1 do
  local at = HEAD + i * REQUEST_FIELDS
  local gated = ARGV[at + 7] == '1'
  local req = { id = ARGV[at + 1], token = ARGV[at + 2], user = ARGV[at + 3], qty = tonumber(ARGV[at + 4]),
    email = ARGV[at + 5], idemKey = ARGV[at + 6], verified = ARGV[at + 12] == '1', ip = gated and ARGV[at + 8] or '',
    made = 0, powNonce = ARGV[at + 9], powBits = tonumber(ARGV[at + 10]), powExpiresAtMs = tonumber(ARGV[at + 11]) }
  replies[i + 1] = refuseSoldOut(ctx, ev, nowMs, req) or (gated and gate(ctx, ev, nowMs, rates, req))
    or admit(ctx, ev, nowMs, holdMs, req, idemTtlMs, limits)
end
return replies
