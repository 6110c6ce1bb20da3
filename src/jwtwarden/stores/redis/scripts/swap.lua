-- Compare-and-swap of a string (the sealed keyring blob), so two processes
-- starting at once end up with one ring.
-- KEYS[1] the string
-- ARGV[1] "1" if a current value is expected ("0": expect none),
-- ARGV[2] the expected value, ARGV[3] the new value
-- Returns 1 if swapped, else 0.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
    if current ~= ARGV[2] then
        return 0
    end
elseif current then
    return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
