-- A session's revocation as verifiers see it: its entry in the revoked-sid
-- index and its feed event, in one step in the revocation slot, before the
-- session itself is marked (scripts/revoke.lua): a crash in between fails
-- closed, and the event exists exactly when the index entry was made.
-- KEYS[1] the revoked-sid index (zset scored by revoked_at), KEYS[2] the feed
-- ARGV[1] the sid, ARGV[2] now, ARGV[3] the TTL in milliseconds of both keys
-- (only ever extended)
-- Returns 1 if this call revoked the sid, 0 if it was revoked already.
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 0 then
    return 0
end
redis.call('XADD', KEYS[2], '*', 'k', 'sid', 'i', ARGV[1], 'a', ARGV[2])
local want = tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
    if redis.call('PTTL', key) < want then  -- -1 (no TTL) counts as shorter
        redis.call('PEXPIRE', key, want)
    end
end
return 1
