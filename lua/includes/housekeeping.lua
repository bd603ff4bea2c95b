--[[
  Step 1 and 2 of every script that changes an event: expired holds give their tickets
  back, then the waiting line is served from its head. Both are bounded per call; the
  sweep job finishes what a call leaves.
]]
local function reclaimExpired(ctx, ev, nowMs, maxCount, retentionMs)
  local ids = redis.call('ZRANGE', ctx.holds, '-inf', nowMs, 'BYSCORE', 'LIMIT', 0, maxCount)
  for _, id in ipairs(ids) do
    local b = loadBooking(ctx, id)
    if b and b.state == STATE.held then
      releaseHold(ctx, ev, b, STATE.expired, 'hold_expired', nowMs, retentionMs)
    else
      error('invariant: hold index names booking ' .. id .. ' which is not held')
    end
  end
  return #ids
end

-- Strict FCFS: the head is served when stock allows; a head that can never be served
-- (nothing held could come back to cover it, or the sale is over) leaves the line so
-- the people behind it move up; otherwise the head blocks the line.
local function serveLine(ctx, ev, nowMs, holdMs, maxCount, retentionMs)
  local served, dropped = 0, 0
  if ev.status == 'on_sale' and nowMs < ev.saleStartsAtMs then return served, dropped end
  local over = saleOver(ev, nowMs)
  for _ = 1, maxCount do
    local head = redis.call('ZRANGE', ctx.line, 0, 0)[1]
    if not head then break end
    local b = loadBooking(ctx, head)
    if not b or b.state ~= STATE.waiting then
      error('invariant: line names booking ' .. head .. ' which is not waiting')
    end
    if over then
      leaveLine(ctx, b, STATE.expired, 'sale_closed', nowMs, retentionMs)
      dropped = dropped + 1
    elseif b.qty <= ev.instock then
      redis.call('ZREM', ctx.line, b.id)
      takeHold(ctx, ev, b, nowMs, holdMs)
      setState(ctx, b, STATE.held, 'served', nowMs, retentionMs)
      served = served + 1
    elseif b.qty > ev.instock + ev.held then
      leaveLine(ctx, b, STATE.expired, 'sold_out', nowMs, retentionMs)
      dropped = dropped + 1
    else
      break
    end
  end
  return served, dropped
end
