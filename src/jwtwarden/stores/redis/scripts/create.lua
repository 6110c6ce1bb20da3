-- Create a hash only if its key is absent: a session, a user, a client.
-- KEYS[1] the hash
-- ARGV[1] TTL in milliseconds ("0": none); ARGV[2..] field, value pairs
-- Returns 1 if created, 0 if the key existed (the caller raises a conflict).
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
local ttl = tonumber(ARGV[1])
if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
