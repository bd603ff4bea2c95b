--[[
  Sweep: run periodically per event so stock comes back and the line moves even when
  nobody is booking. Same first two steps as every other script, nothing else.

  Input:
    KEYS[1..10]  the event's keys (see includes/context.lua)
    ARGV[1] nowMs
    ARGV[2] holdMs          for holds served from the line, unless the event sets its own (hold_ms)
    ARGV[3] reclaimMax
    ARGV[4] serveMax
    ARGV[5] retentionMs

  Output: { reclaimed, served, dropped, lineLength, holdCount, finished } or { -1 } if no
  such event. finished is 1 once the sale is over and nothing is held or waiting: the sweep
  has nothing left to do for the event (a late payment still finds its hash).
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"

local ctx = eventContext(KEYS)
local nowMs, holdMs = tonumber(ARGV[1]), tonumber(ARGV[2])
local reclaimMax, serveMax, retentionMs = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local ev = loadEvent(ctx)
if not ev then return { -1 } end
holdMs = holdMsOf(ev, holdMs)
local reclaimed = reclaimExpired(ctx, ev, nowMs, reclaimMax, retentionMs)
local served, dropped = serveLine(ctx, ev, nowMs, holdMs, serveMax, retentionMs)
local lineLength, holdCount = redis.call('ZCARD', ctx.line), redis.call('ZCARD', ctx.holds)
local finished = (saleOver(ev, nowMs) and lineLength == 0 and holdCount == 0) and 1 or 0
return { reclaimed, served, dropped, lineLength, holdCount, finished }
