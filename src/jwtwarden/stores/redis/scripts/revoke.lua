-- Mark a session revoked, once. Its key then lives at most one revocation
-- horizon (what access tokens it minted can still be alive;
-- jwtwarden.core.sessions.is_purgeable keeps a revoked session that long).
-- Its feed event went out first, with its index entry (scripts/revoked.lua).
-- KEYS[1] the session hash
-- ARGV[1] now, ARGV[2] reason, ARGV[3] the horizon in milliseconds ("0": keep the TTL)
-- Returns the session's fields if this call revoked it, else nil.
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'r') == 1 then
    return false
end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'w', ARGV[2])
local keep = tonumber(ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if keep > 0 and (ttl < 0 or ttl > keep) then
    redis.call('PEXPIRE', KEYS[1], keep)
end
return redis.call('HGETALL', KEYS[1])
