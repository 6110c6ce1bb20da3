-- Release a name claim (a username or client name) only if it is still ours.
-- KEYS[1] the claim; ARGV[1] our value. Returns 1 if released.
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
