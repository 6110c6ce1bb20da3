-- The store's epoch: created once, read by everyone. A store that lost its
-- data finds it missing; the first process to notice writes a new epoch with
-- a store cutoff and every other process adopts that one.
-- KEYS[1] the epoch hash
-- ARGV[1] new id, ARGV[2] store cutoff ("" none), ARGV[3] created at,
-- ARGV[4] the server's run_id (for the operator)
-- Returns {id, cutoff} of the epoch in place.
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('HSET', KEYS[1], 'id', ARGV[1], 'c', ARGV[2], 'at', ARGV[3], 'run', ARGV[4])
end
return redis.call('HMGET', KEYS[1], 'id', 'c')
