-- Purge one dead session, unless it changed since it was judged dead
-- (rotated, used or revoked in between): compare, then delete. The judging
-- is jwtwarden.core.sessions.is_purgeable, called in Python (purge.py).
-- KEYS[1] the session hash
-- ARGV[1] generation, ARGV[2] last use, ARGV[3] revoked at ("" none), as read
-- Returns 1 if deleted, else 0.
local f = redis.call('HMGET', KEYS[1], 'g', 'l', 'r')
if f[1] ~= ARGV[1] or f[2] ~= ARGV[2] or (f[3] or '') ~= ARGV[3] then
    return 0
end
return redis.call('DEL', KEYS[1])
