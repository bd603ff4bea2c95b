--[[
  Sweep: run periodically per event so stock comes back and the line moves even when
  nobody is booking. Same first two steps as every other script, nothing else.

  Input:
    KEYS[1] event:{E}       the event's key; its other keys are built from its hash tag (includes/context.lua)
    ARGV[1] nowMs
  The settings are the process's, written into the script when it loads (SETTINGS, includes/context.lua).

  Output: { 'ok', reclaimed, served, dropped, lineLength, holdCount, finished }
      or  { 'EVENT_NOT_FOUND', '' } when the event is not live. finished is 1 once the sale is over and nothing is held or waiting: the sweep
  has nothing left to do for the event (a late payment finds its hash for the retention period).
]]
--- @include "includes/context"
--- @include "includes/booking"
--- @include "includes/housekeeping"

local ctx, ev, nowMs, holdMs = openEvent(KEYS, ARGV)
if not ctx then return { 'EVENT_NOT_FOUND', '' } end
local reclaimed = reclaimExpired(ctx, ev, nowMs)
local served, dropped = serveLine(ctx, ev, nowMs, holdMs)
local lineLength, holdCount = redis.call('ZCARD', ctx.line), redis.call('ZCARD', ctx.holds)
local finished = (saleOver(ev, nowMs) and lineLength == 0 and holdCount == 0) and 1 or 0
return { 'ok', reclaimed, served, dropped, lineLength, holdCount, finished }
