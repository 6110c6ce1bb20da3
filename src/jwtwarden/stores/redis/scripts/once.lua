-- Store.remember_once: 1 the first time an id is seen, 0 while it is kept.
-- KEYS[1] the id's key
-- ARGV[1] now, ARGV[2] until (float seconds), ARGV[3] TTL in ms (until - now)
-- The value is the id's "until", so an entry past it by the caller's clock
-- counts as gone even before its TTL fires; the TTL purges it either way.
local kept = redis.call('GET', KEYS[1])
if kept and tonumber(kept) > tonumber(ARGV[1]) then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
