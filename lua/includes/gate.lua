--[[
  The anti-bot gate, the first step of a hold once the event is read, in this order:
    1. the client IP's token bucket is checked and charged: the address is the requester's
       own (the socket's, or the trusted proxy's entry), so whatever it sends spends only
       its own budget, and proofless floods are bounded before any other work;
    2. if the event asks for a proof-of-work, the presented challenge must be hard enough;
    3. the userId's bucket is checked, then the proof's nonce is marked used (it is
       remembered until the challenge expires, so each solves one booking), and only then
       is the userId's bucket charged. Anyone can name any userId, so a request that has
       not proven its work must never spend that person's budget (six proofless requests
       would lock them out), and a full user bucket does not burn a valid proof.
  Shared by hold.lua and hold_batch.lua, so a booking is one script call, and a request for
  an unknown event leaves no bucket behind.

  g = { ip, user, powNonce, powBits, powExpiresAtMs }  powBits 0 when no valid proof was given; the
  buckets' rates are SETTINGS.rateIpPerS, rateIpBurst, rateUserPerS, rateUserBurst.
  Keys built here, in the event's slot: ctx.ratePrefix .. 'ip:' .. ip, ctx.ratePrefix ..
  'user:' .. user (string: tokens:atMs), ctx.powPrefix .. nonce (string while used).
  Returns nil when the request may go on, else the refusal reply:
    RATE_LIMITED (detail: 'ip:<waitMs>' or 'user:<waitMs>'), POW_REQUIRED (detail: bits asked), POW_REUSED
]]

-- A bucket as one string, "<tokens>:<atMs>", refilled at perS tokens a second up to burst.
local function bucketTokens(bucket, perS, burst, nowMs)
  if not bucket then return burst end
  local sep = string.find(bucket, ':', 1, true)
  local tokens, atMs = tonumber(string.sub(bucket, 1, sep - 1)), tonumber(string.sub(bucket, sep + 1))
  return math.min(burst, tokens + math.max(0, nowMs - atMs) * perS / 1000)
end

local function takeToken(bucketKey, tokens, perS, burst, nowMs)
  -- A full bucket equals no key, so a key lives only as long as it takes to refill.
  redis.call('SET', bucketKey, (tokens - 1) .. ':' .. nowMs, 'PX', math.ceil(burst * 1000 / perS) + 1000)
end

local function waitMs(tokens, perS)
  return math.ceil((1 - tokens) * 1000 / perS)
end

-- g.made is set to the client IP's bookings in the window (admit's per-IP limit), read
-- with both buckets in one MGET.
local function gate(ctx, ev, nowMs, g)
  local ipKey, userKey = ctx.ratePrefix .. 'ip:' .. g.ip, ctx.ratePrefix .. 'user:' .. g.user
  local read = redis.call('MGET', ipKey, userKey, ctx.ratePrefix .. 'made:' .. g.ip)
  g.made = tonumber(read[3]) or 0
  local ipPerS, ipBurst = SETTINGS.rateIpPerS, SETTINGS.rateIpBurst
  local ipTokens = bucketTokens(read[1], ipPerS, ipBurst, nowMs)
  if ipTokens < 1 then return { 'RATE_LIMITED', 'ip:' .. waitMs(ipTokens, ipPerS) } end
  takeToken(ipKey, ipTokens, ipPerS, ipBurst, nowMs)

  if ev.powBits > 0 and g.powBits < ev.powBits then return { 'POW_REQUIRED', ev.powBits } end
  local userPerS, userBurst = SETTINGS.rateUserPerS, SETTINGS.rateUserBurst
  local userTokens = bucketTokens(read[2], userPerS, userBurst, nowMs)
  if userTokens < 1 then return { 'RATE_LIMITED', 'user:' .. waitMs(userTokens, userPerS) } end
  if ev.powBits > 0 then
    local ttlMs = g.powExpiresAtMs - nowMs
    if ttlMs < 1 or not redis.call('SET', ctx.powPrefix .. g.powNonce, 1, 'NX', 'PX', ttlMs) then
      return { 'POW_REUSED', '' }
    end
  end
  takeToken(userKey, userTokens, userPerS, userBurst, nowMs)
  return nil
end
