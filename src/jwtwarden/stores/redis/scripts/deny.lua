-- Deny one access token and append its feed event, in one step. The event
-- matters until the token's own forget_at (jwtwarden.core.view.event_forget_at).
-- KEYS[1] the denylist (zset scored by forget_at), KEYS[2] the feed (stream)
-- ARGV[1] jti, ARGV[2] forget_at, ARGV[3] TTL in milliseconds of both keys
-- (only ever extended)
-- Returns the forget_at kept (of two denials the later one).
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
local kept = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], '*', 'k', 'jti', 'i', ARGV[1], 'f', kept)
local want = tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
    if redis.call('PTTL', key) < want then  -- -1 (no TTL) counts as shorter
        redis.call('PEXPIRE', key, want)
    end
end
return kept
