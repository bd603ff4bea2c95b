--[[
  Step 1 and 2 of every script that changes an event: expired holds give their tickets
  back, then the waiting line is served from its head. Both are bounded per call; the
  sweep job finishes what a call leaves.
]]
-- Skipped while ev.holdsDueAtMs says no hold has ended yet; otherwise reads the earliest holds
-- (one past SETTINGS.reclaimMax, so the next end is known) and records when the next one ends.
local function reclaimExpired(ctx, ev, nowMs)
  if ev.holdsDueAtMs > nowMs then return 0 end
  local maxCount = SETTINGS.reclaimMax
  local earliest = redis.call('ZRANGE', ctx.holds, 0, maxCount, 'WITHSCORES')
  local reclaimed, dueAtMs = 0, HOLDS_NONE_DUE
  for i = 1, #earliest, 2 do
    local id, expiresAtMs = earliest[i], tonumber(earliest[i + 1])
    if expiresAtMs > nowMs or reclaimed == maxCount then
      dueAtMs = expiresAtMs
      break
    end
    local b = loadBooking(ctx, id)
    if b and b.state == STATE.held then
      releaseHold(ctx, ev, b, STATE.expired, 'hold_expired', nowMs)
    else
      error('invariant: hold index names booking ' .. id .. ' which is not held')
    end
    reclaimed = reclaimed + 1
  end
  ev.holdsDueAtMs = dueAtMs
  redis.call('HSET', ctx.event, EVENT.holdsDueAtMs, dueAtMs)
  return reclaimed
end

-- Strict FCFS: the head is served when stock allows; a head that can never be served
-- (nothing held could come back to cover it, or the sale is over) leaves the line so
-- the people behind it move up; otherwise the head blocks the line. At most SETTINGS.serveMax a call.
local function serveLine(ctx, ev, nowMs, holdMs)
  local served, dropped = 0, 0
  if ev.lineEmpty == 1 then
    ctx.lineLength = 0
    return served, dropped
  end
  if ev.status == 'on_sale' and nowMs < ev.saleStartsAtMs then return served, dropped end
  local over = saleOver(ev, nowMs)
  for _ = 1, SETTINGS.serveMax do
    local head = redis.call('ZRANGE', ctx.line, 0, 0)[1]
    if not head then
      -- Known empty: admit need not count the line, nor the next call read it.
      ctx.lineLength, ev.lineEmpty = 0, 1
      redis.call('HSET', ctx.event, EVENT.lineEmpty, 1)
      break
    end
    -- A head that blocks the line (the usual case while it waits) is read no further than its quantity.
    local qty = tonumber(redis.call('HGET', ctx.bookingPrefix .. head, BOOKING.qty))
    if not qty then error('invariant: line names booking ' .. head .. ' which is gone') end
    if not over and qty > ev.instock and qty <= ev.instock + ev.held then break end
    local b = loadBooking(ctx, head)
    if not b or b.state ~= STATE.waiting then
      error('invariant: line names booking ' .. head .. ' which is not waiting')
    end
    if over then
      leaveLine(ctx, b, STATE.expired, 'sale_closed', nowMs)
      dropped = dropped + 1
    elseif b.qty <= ev.instock then
      redis.call('ZREM', ctx.line, b.id)
      takeHold(ctx, ev, b, nowMs, holdMs)
      updatePerson(ctx, b, b.qty, false)
      setState(ctx, b, STATE.held, 'served', nowMs)
      served = served + 1
    else
      leaveLine(ctx, b, STATE.expired, 'sold_out', nowMs)
      dropped = dropped + 1
    end
  end
  return served, dropped
end
