-- Drop a watched revocation index's dead members; if that empties it (Redis
-- then deletes the key), forget its expiry in the epoch, in the same step,
-- so the emptied key is not taken for a lost one (scripts/epoch.lua).
-- KEYS[1] the sorted set, KEYS[2] the epoch hash
-- ARGV[1] drop scores at or below this
-- Returns how many members went.
local n = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('HDEL', KEYS[2], 'w:' .. KEYS[1])
end
return n
