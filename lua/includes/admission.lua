--[[
  Steps 3 to 6 of a hold for one request, once expired holds are reclaimed and the line is
  served: idempotent replay, the sale and the person's limits, then hold, queue or refuse.
  Shared by hold.lua (one request) and hold_batch.lua (many, in arrival order).
  req = { id, token, user, qty, email, idemKey, verified, ip }; ip '' for internal callers.
  limits = { lineMax, ipBookingsMax }; returns the reply hold.lua documents.
  The open booking's id is told only to a request that proved it is that person (verified):
  anyone can type a userId, and the id is half of what reads the booking's state.
]]
local function admit(ctx, ev, nowMs, holdMs, req, idemTtlMs, limits)
  local bookingId, token, userId, quantity, email, idemKey = req.id, req.token, req.user, req.qty, req.email, req.idemKey
  local idemFull = ''
  if idemKey ~= '' then
    idemFull = ctx.idemPrefix .. userId .. ':' .. idemKey
    local priorId = redis.call('GET', idemFull)
    if priorId then
      local prior = loadBooking(ctx, priorId)
      if prior then
        if prior.qty ~= quantity then return { 'IDEMPOTENCY_MISMATCH', priorId } end
        return bookingReply(ctx, 'replay', prior)
      end
    end
  end

  if saleOver(ev, nowMs) then return { 'SALE_CLOSED', '' } end
  local tally = tonumber(redis.call('HGET', ctx.tally, userId) or '0')
  if tally + quantity > ev.maxPerUser then return { 'PER_PERSON_LIMIT', ev.maxPerUser - tally } end
  local openId = redis.call('HGET', ctx.open, userId)
  if openId then return { 'OPEN_BOOKING_EXISTS', req.verified and openId or '' } end

  local lineLength = redis.call('ZCARD', ctx.line)
  local canHoldNow = saleOpen(ev, nowMs) and lineLength == 0 and ev.instock >= quantity
  if not canHoldNow then
    -- Tickets can still come back only from holds; paid ones rarely do.
    if ev.instock + ev.held < quantity then return { 'SOLD_OUT', '' } end
    if lineLength >= limits.lineMax then return { 'LINE_FULL', limits.lineMax } end
  end
  -- One address makes at most ipBookingsMax bookings per event per window, cancelled or
  -- not; the window is the unpaid retention, so the memory a hold-then-cancel loop takes
  -- stays bounded. The counter expires one window after the window's first booking.
  local madeKey = req.ip ~= '' and (ctx.ratePrefix .. 'made:' .. req.ip) or nil
  if madeKey and tonumber(redis.call('GET', madeKey) or '0') >= limits.ipBookingsMax then
    return { 'IP_BOOKING_LIMIT', redis.call('PTTL', madeKey) }
  end

  local b = {
    id = bookingId, key = ctx.bookingPrefix .. bookingId, user = userId, qty = quantity,
    seq = redis.call('HINCRBY', ctx.event, EVENT.nextSeq, 1), exp = 0, hseq = 0,
    amount = ev.price * quantity, currency = ev.currency, email = email, pay = '',
    reason = '', created = nowMs, token = token, idem = idemKey,
  }
  if canHoldNow then
    takeHold(ctx, ev, b, nowMs, holdMs)
    b.state = STATE.held
  else
    redis.call('ZADD', ctx.line, b.seq, b.id)
    b.state = STATE.waiting
  end
  saveBooking(b)
  redis.call('HSET', ctx.open, userId, b.id)
  if idemFull ~= '' then redis.call('SET', idemFull, b.id, 'PX', idemTtlMs) end
  if madeKey and redis.call('INCR', madeKey) == 1 then redis.call('PEXPIRE', madeKey, ctx.unpaidRetentionMs) end
  appendLog(ctx, b.state, b, nowMs)

  -- The reply's kind is the new booking's state: held or waiting.
  return bookingReply(ctx, b.state, b)
end
