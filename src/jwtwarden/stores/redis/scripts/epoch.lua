-- The store's epoch: the proof that the store still holds every revocation
-- of the last revocation horizon (docs/stores.md, "Data loss"). An epoch
-- that is missing, or whose watched keys Redis dropped before their own
-- expiry (eviction, a DEL), is replaced by a new one carrying a store cutoff
-- at ``now``; so is an epoch the caller's witness does not know, late. Only a
-- caller whose fresh keyring vouches that nothing was ever signed may make
-- an epoch without a cutoff. The cutoff's feed event goes out in this step.
-- mirrors jwtwarden.stores.redis.epoch.Epoch (the rule, in its docstring)
-- KEYS[1] the epoch hash, KEYS[2] the feed (stream), KEYS[3..] the revocation
-- keys to watch (denylist, indexes, feed): each one's expiry is remembered
-- ARGV[1] a new id, ARGV[2] now, ARGV[3] the witness: the epoch id the
-- caller's tokens were issued under ("" none), ARGV[4] "1" if the store may
-- be new, ARGV[5] the feed's TTL in milliseconds (only ever extended),
-- ARGV[6] the server's run_id (for the operator)
-- Returns {id, cutoff ("" none), "1" if this call found a loss}.
local function store_event(at)
    redis.call('XADD', KEYS[2], '*', 'k', 'store', 'i', '', 'a', at)
    local want = tonumber(ARGV[5])
    if redis.call('PTTL', KEYS[2]) < want then
        redis.call('PEXPIRE', KEYS[2], want)
    end
end

local id = redis.call('HGET', KEYS[1], 'id')
local lost = not id
if id then
    local t = redis.call('TIME')
    local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    for i = 3, #KEYS do
        local field = 'w:' .. KEYS[i]
        local expires = redis.call('PEXPIRETIME', KEYS[i])
        local seen = tonumber(redis.call('HGET', KEYS[1], field) or '0')
        if expires == -2 and seen > now_ms then
            lost = true  -- gone before its time: evicted or deleted
        elseif expires > seen then
            redis.call('HSET', KEYS[1], field, expires)
        end
    end
end
if lost then
    local cutoff = ARGV[2]
    if not id and ARGV[3] == '' and ARGV[4] == '1' then
        cutoff = ''  -- a new store: nothing was ever signed before it
    end
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'id', ARGV[1], 'at', ARGV[2], 'c', cutoff, 'run', ARGV[6])
    for i = 3, #KEYS do
        local expires = redis.call('PEXPIRETIME', KEYS[i])
        if expires > 0 then
            redis.call('HSET', KEYS[1], 'w:' .. KEYS[i], expires)
        end
    end
    if cutoff ~= '' then
        store_event(cutoff)
    end
    return {ARGV[1], cutoff, id and '1' or (cutoff ~= '' and '1' or '0')}
end
if ARGV[3] ~= '' and ARGV[3] ~= id and (redis.call('HGET', KEYS[1], 'c') or '') == '' then
    -- Made by someone who could not know the witness's epoch: every token
    -- from before this epoch began was issued under one that is gone.
    local at = redis.call('HGET', KEYS[1], 'at')
    redis.call('HSET', KEYS[1], 'c', at)
    store_event(at)
    return {id, at, '1'}
end
return {id, redis.call('HGET', KEYS[1], 'c') or '', '0'}
