-- The rotation compare-and-swap (DESIGN property 1): advance the generation
-- of an unrevoked session only if it is still the expected one, so racing
-- refreshes from any number of processes make exactly one rotation.
-- KEYS[1] the session hash
-- ARGV[1] expected generation, ARGV[2] now (stored as given: integer
-- microseconds, or a float's repr when that is not exact),
-- ARGV[3] the store policy's idle TTL in seconds ("0": none)
-- Returns the session's fields after the rotation, or nil.
local function sec(s)
    if string.find(s, '[.eEn]') then
        return tonumber(s)
    end
    return tonumber(s) / 1000000
end

local g = redis.call('HGET', KEYS[1], 'g')
if not g or g ~= ARGV[1] or redis.call('HEXISTS', KEYS[1], 'r') == 1 then
    return false
end
redis.call('HINCRBY', KEYS[1], 'g', 1)
redis.call('HSET', KEYS[1], 't', ARGV[2], 'l', ARGV[2])
-- The key lives until the absolute expiry or the idle deadline, whichever
-- comes first (the two ends of jwtwarden.core.sessions.Session.is_expired);
-- relative to the "now" we were given, never the server clock.
local now = sec(ARGV[2])
local deadline = sec(redis.call('HGET', KEYS[1], 'x'))
local idle = tonumber(ARGV[3])
if idle > 0 and now + idle < deadline then
    deadline = now + idle
end
redis.call('PEXPIRE', KEYS[1], math.max(1000, math.floor((deadline - now) * 1000)))
return redis.call('HGETALL', KEYS[1])
