-- Update a user in one step: set or delete fields, move the cutoff forward
-- (of two racing cutoffs the later wins, with its keep_sid), and append the
-- user's whole revocation state to the feed when it changed.
-- mirrors jwtwarden.core.revocation.later_cutoff (the cutoff step)
-- KEYS[1] the user hash, KEYS[2] the feed (stream)
-- ARGV[1] the sub if the change goes on the feed ("" if not),
-- ARGV[2] the feed's TTL in milliseconds (only ever extended),
-- ARGV[3] cutoff ("" none), ARGV[4] keep_sid ("" none),
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
if ARGV[3] ~= '' then  -- mirrors jwtwarden.core.revocation.later_cutoff
    local old = redis.call('HGET', KEYS[1], 'o')
    if not old or tonumber(old) <= tonumber(ARGV[3]) then
        redis.call('HSET', KEYS[1], 'o', ARGV[3])
        if ARGV[4] == '' then
            redis.call('HDEL', KEYS[1], 'k')
        else
            redis.call('HSET', KEYS[1], 'k', ARGV[4])
        end
    end
end
if ARGV[1] ~= '' then
    local state = redis.call('HMGET', KEYS[1], 'o', 'k', 'b')
    if state[1] then  -- no cutoff, nothing a verifier could act on
        local event = {'k', 'user', 'i', ARGV[1], 'a', state[1]}
        if state[2] then
            table.insert(event, 's')
            table.insert(event, state[2])
        end
        if state[3] then
            table.insert(event, 'b')
            table.insert(event, state[3])
        end
        redis.call('XADD', KEYS[2], '*', unpack(event))
        local want = tonumber(ARGV[2])
        if redis.call('PTTL', KEYS[2]) < want then
            redis.call('PEXPIRE', KEYS[2], want)
        end
    end
end
return 1
