-- Read a session and its user in one round trip (get_session).
-- KEYS[1] the session hash, KEYS[2] its user's hash (required on Cluster;
-- without it the key is built from the session's "u"/"U" field, single-node
-- Redis only)
-- ARGV[1] the key prefix
-- Returns {session fields, user fields}; either list is empty when missing.
local session = redis.call('HGETALL', KEYS[1])
if KEYS[2] then
    return {session, redis.call('HGETALL', KEYS[2])}
end
local f = redis.call('HMGET', KEYS[1], 'u', 'U')
local sub = f[1]
if f[2] then
    local hex = string.gsub(f[2], '.', function(c)
        return string.format('%02x', string.byte(c))
    end)
    sub = string.sub(hex, 1, 8) .. '-' .. string.sub(hex, 9, 12) .. '-'
        .. string.sub(hex, 13, 16) .. '-' .. string.sub(hex, 17, 20) .. '-'
        .. string.sub(hex, 21, 32)
end
if not sub then
    return {session, {}}
end
return {session, redis.call('HGETALL', ARGV[1] .. ':u:{' .. sub .. '}')}
