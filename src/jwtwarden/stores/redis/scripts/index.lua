-- Add a member to a sorted set that expires: a user's sessions, the
-- denylist, the revoked-session and cutoff indexes, one key's failed logins.
-- KEYS[1] the sorted set
-- ARGV[1] member, ARGV[2] score, ARGV[3] drop scores at or below this first
-- ("" none), ARGV[4] TTL in milliseconds (only ever extended),
-- ARGV[5] ZADD mode: "GT" (keep the later score), "NX" (keep the first) or ""
if ARGV[3] ~= '' then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
end
if ARGV[5] == '' then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
else
    redis.call('ZADD', KEYS[1], ARGV[5], ARGV[2], ARGV[1])
end
local want = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < want then  -- -1 (no TTL) counts as shorter
    redis.call('PEXPIRE', KEYS[1], want)
end
return 1
