-- Update a user in one step: set or delete fields, and take the revocation
-- state scripts/user_feed.lua just published, unless a later one is here
-- already (racing updates: the highest version wins, as on the feed).
-- KEYS[1] the user hash
-- ARGV[1] the state's version ("" no revocation change), ARGV[2] cutoff_at,
-- ARGV[3] keep_sid, ARGV[4] banned_until ("" none),
-- ARGV[5..] field, value pairs (an empty value deletes the field)
-- Returns 1 if the user exists (and was updated), else 0.
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
for i = 5, #ARGV, 2 do
    if ARGV[i + 1] == '' then
        redis.call('HDEL', KEYS[1], ARGV[i])
    else
        redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    end
end
if ARGV[1] ~= '' and tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'v') or '0') then
    redis.call('HSET', KEYS[1], 'v', ARGV[1])
    local state = {o = ARGV[2], k = ARGV[3], b = ARGV[4]}
    for field, value in pairs(state) do
        if value == '' then
            redis.call('HDEL', KEYS[1], field)
        else
            redis.call('HSET', KEYS[1], field, value)
        end
    end
end
return 1
