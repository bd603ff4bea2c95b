--[[
  Sweep: run periodically per event so stock comes back and the line moves even when
  nobody is booking. Same first two steps as every other script, nothing else.

  Input:
    KEYS[1..EVENT_KEYS]  the event's keys, as includes/context.lua lists them
    ARGV[1] nowMs
    ARGV[2] holdMs          for holds served from the line, unless the event sets its own (hold_ms)
    ARGV[3] reclaimMax
    ARGV[4] serveMax
    ARGV[5] retentionMs
    ARGV[6] unpaidRetentionMs   how long a booking that ended unpaid stays readable

  Output: { 'ok', reclaimed, served, dropped, lineLength, holdCount, finished }
      or  { 'EVENT_NOT_FOUND', '' } when the event is not live. finished is 1 once the sale is over and nothing is held or waiting: the sweep
  has nothing left to do for the event (a late payment finds its hash for the retention period).
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"

local ctx, ev, nowMs, holdMs = openEvent(KEYS, ARGV)
if not ctx then return { 'EVENT_NOT_FOUND', '' } end
ctx.unpaidRetentionMs = tonumber(ARGV[6])
local reclaimMax, serveMax, retentionMs = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local reclaimed = reclaimExpired(ctx, ev, nowMs, reclaimMax, retentionMs)
local served, dropped = serveLine(ctx, ev, nowMs, holdMs, serveMax, retentionMs)
local lineLength, holdCount = redis.call('ZCARD', ctx.line), redis.call('ZCARD', ctx.holds)
local finished = (saleOver(ev, nowMs) and lineLength == 0 and holdCount == 0) and 1 or 0
return { 'ok', reclaimed, served, dropped, lineLength, holdCount, finished }
