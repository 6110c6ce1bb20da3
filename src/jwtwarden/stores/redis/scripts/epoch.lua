-- The store's epoch: created once, read by everyone. A store that lost its
-- data finds it missing; the first process to notice writes a new epoch with
-- a store cutoff (and its feed event) and every other process adopts that one.
-- KEYS[1] the epoch hash, KEYS[2] the feed (stream)
-- ARGV[1] new id, ARGV[2] store cutoff ("" none), ARGV[3] created at,
-- ARGV[4] the server's run_id (for the operator), ARGV[5] the feed's TTL in
-- milliseconds (only ever extended)
-- Returns {id, cutoff} of the epoch in place.
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('HSET', KEYS[1], 'id', ARGV[1], 'c', ARGV[2], 'at', ARGV[3], 'run', ARGV[4])
    if ARGV[2] ~= '' then
        redis.call('XADD', KEYS[2], '*', 'k', 'store', 'i', '', 'a', ARGV[2])
        local want = tonumber(ARGV[5])
        if redis.call('PTTL', KEYS[2]) < want then
            redis.call('PEXPIRE', KEYS[2], want)
        end
    end
end
return redis.call('HMGET', KEYS[1], 'id', 'c')
