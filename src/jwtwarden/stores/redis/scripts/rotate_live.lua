-- The happy path of a refresh in one step: the rotation compare-and-swap of
-- rotate.lua, done only if decide_rotation would rotate the current
-- generation (DESIGN property 1 still holds: it is the same CAS).
-- mirrors jwtwarden.core.rotation.rotates_now
-- KEYS[1] the session hash, KEYS[2] its user's hash (required on Cluster,
-- where it is in the session's slot; without it the key is built from the
-- session's "u"/"U" field, single-node Redis only)
-- ARGV[1] expected generation, ARGV[2] now (stored as given: integer
-- microseconds, or a float's repr when that is not exact), ARGV[3] the idle
-- TTL in seconds (a float's repr), ARGV[4] the sid, ARGV[5] the key prefix
-- Returns {session fields after the rotation, user fields}, or nil with
-- nothing changed.
--
-- Times compare as Python compares them: Lua numbers are doubles, sec()
-- decodes a stored time to the very double codec.parse_time() makes (an
-- integer below 2^53 divided by 1e6 is one correctly rounded division;
-- tonumber() of a repr reads back the same double), and every test is core's
-- own expression negated, never rearranged.
local function sec(s)
    if string.find(s, '[.eEn]') then
        return tonumber(s)
    end
    return tonumber(s) / 1000000
end

local function uuid(packed)
    local hex = string.gsub(packed, '.', function(c)
        return string.format('%02x', string.byte(c))
    end)
    return string.sub(hex, 1, 8) .. '-' .. string.sub(hex, 9, 12) .. '-'
        .. string.sub(hex, 13, 16) .. '-' .. string.sub(hex, 17, 20) .. '-'
        .. string.sub(hex, 21, 32)
end

local s = redis.call('HMGET', KEYS[1], 'g', 'r', 'a', 'x', 'l', 'u', 'U')
local g, revoked, auth_time, expires_at, last_used = s[1], s[2], s[3], s[4], s[5]
if not g or g ~= ARGV[1] or revoked then
    return false
end
local now = sec(ARGV[2])
local idle = tonumber(ARGV[3])
if not (now < sec(expires_at)) or not (now - sec(last_used) < idle) then
    return false
end
local sub = s[6]
if s[7] then
    sub = uuid(s[7])
end
local user_key = KEYS[2] or (ARGV[5] .. ':u:{' .. sub .. '}')
local u = redis.call('HMGET', user_key, 'n', 'o', 'k', 'b')
local cutoff, keep, banned = u[2], u[3], u[4]
if not u[1] then
    return false  -- no such user
end
if banned and now < tonumber(banned) then
    return false
end
if cutoff and sec(auth_time) < tonumber(cutoff) and ARGV[4] ~= keep then
    return false
end
-- The rotation, exactly as rotate.lua makes it.
redis.call('HINCRBY', KEYS[1], 'g', 1)
redis.call('HSET', KEYS[1], 't', ARGV[2], 'l', ARGV[2])
local deadline = sec(expires_at)
if idle > 0 and now + idle < deadline then
    deadline = now + idle
end
redis.call('PEXPIRE', KEYS[1], math.max(1000, math.floor((deadline - now) * 1000)))
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', user_key)}
