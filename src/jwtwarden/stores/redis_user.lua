-- Update a user in one step: set or delete fields, and move the cutoff
-- forward (of two racing cutoffs the later wins, with its keep_sid).
-- KEYS[1] the user hash
-- ARGV[1] cutoff ("" none), ARGV[2] keep_sid ("" none),
-- ARGV[3..] field, value pairs (an empty value deletes the field)
-- Returns 1 if the user exists (and was updated), else 0.
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
for i = 3, #ARGV, 2 do
    if ARGV[i + 1] == '' then
        redis.call('HDEL', KEYS[1], ARGV[i])
    else
        redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    end
end
if ARGV[1] ~= '' then
    local old = redis.call('HGET', KEYS[1], 'o')
    if not old or tonumber(old) <= tonumber(ARGV[1]) then
        redis.call('HSET', KEYS[1], 'o', ARGV[1])
        if ARGV[2] == '' then
            redis.call('HDEL', KEYS[1], 'k')
        else
            redis.call('HSET', KEYS[1], 'k', ARGV[2])
        end
    end
end
return 1
