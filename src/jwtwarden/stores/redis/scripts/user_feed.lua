-- A user's revocation state as verifiers see it, in one step in the
-- revocation slot: move the cutoff forward (of two racing cutoffs the later
-- wins, with its keep_sid), set or lift the ban, index the cutoff, and
-- append the resulting state to the feed, so the feed shows the states in
-- the order they were made (never an un-revocation out of order). The
-- user's hash gets the same state afterwards (scripts/user.lua), by version.
-- mirrors jwtwarden.core.revocation.later_cutoff (the cutoff step)
-- KEYS[1] the revocation mirror (hash sub -> "v|cutoff|keep_sid|banned_until"),
-- KEYS[2] the cutoff index (zset scored by cutoff_at), KEYS[3] the feed
-- ARGV[1] the sub, ARGV[2] the TTL of the mirror, index and feed in
-- milliseconds (only ever extended: the mirror outlives its last cutoff by a
-- horizon; past that the user's hash holds the same state), ARGV[3] cutoff ("" none), ARGV[4] keep_sid ("" none),
-- ARGV[5] the ban: "" unchanged, "-" lifted, else banned_until,
-- ARGV[6] the user hash's own state "v|o|k|b" as just read, taken when the
-- mirror has none for this user (expired, or a store made before it)
-- Returns {version, cutoff, keep_sid, banned_until} ("" for none).
local old = redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[6]
local v, o, k, b = string.match(old, '^(%d+)|([^|]*)|([^|]*)|([^|]*)$')
if ARGV[3] ~= '' then
    if o == '' or tonumber(o) <= tonumber(ARGV[3]) then
        o, k = ARGV[3], ARGV[4]
    end
    redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[1])
end
if ARGV[5] == '-' then
    b = ''
elseif ARGV[5] ~= '' then
    b = ARGV[5]
end
v = tostring(tonumber(v) + 1)
redis.call('HSET', KEYS[1], ARGV[1], v .. '|' .. o .. '|' .. k .. '|' .. b)
if o ~= '' then  -- no cutoff, nothing a verifier could act on
    local event = {'k', 'user', 'i', ARGV[1], 'a', o}
    if k ~= '' then
        table.insert(event, 's')
        table.insert(event, k)
    end
    if b ~= '' then
        table.insert(event, 'b')
        table.insert(event, b)
    end
    redis.call('XADD', KEYS[3], '*', unpack(event))
end
local want = tonumber(ARGV[2])
for i = 1, 3 do
    if redis.call('PTTL', KEYS[i]) < want then  -- -1 (no TTL) counts as shorter
        redis.call('PEXPIRE', KEYS[i], want)
    end
end
return {v, o, k, b}
