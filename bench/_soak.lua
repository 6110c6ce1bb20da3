-- wrk script of bench/soak.py: a mixed load over a set of sessions, until
-- args[2] responses have come back; then the sessions' current tokens are
-- written to args[3] (one "refresh_token access_token" a line) and wrk exits.
-- In every 20 requests: 17 GET /me, 2 refreshes, 1 revocation of an access
-- token (which that session's next refresh replaces). Sessions are taken
-- round-robin; a refresh answer names its session by the sid its refresh
-- token begins with.
local sessions, by_sid = {}, {}
local i, k, got, want, out = 0, 0, 0, 0, nil
local status = {}

function init(args)
  for line in io.lines(args[1]) do
    local rt, at = line:match("(%S+) (%S+)")
    local s = {rt = rt, at = at}
    sessions[#sessions + 1] = s
    by_sid[rt:match("^([^.]+)")] = s
  end
  want = tonumber(args[2])
  out = args[3]
end

local form = {["Content-Type"] = "application/x-www-form-urlencoded"}

function request()
  i = i + 1
  k = k % #sessions + 1
  local s = sessions[k]
  local slot = i % 20
  if slot == 0 or slot == 10 then
    return wrk.format("POST", "/token", form, "grant_type=refresh_token&refresh_token=" .. s.rt)
  elseif slot == 5 then
    return wrk.format("POST", "/revoke", form, "token=" .. s.at .. "&token_type_hint=access_token")
  end
  return wrk.format("GET", "/me", {["Authorization"] = "Bearer " .. s.at})
end

function response(code, headers, body)
  got = got + 1
  status[code] = (status[code] or 0) + 1
  local rt = body:match('"refresh_token":"([^"]+)"')
  if rt then
    local s = by_sid[rt:match("^([^.]+)")]
    if s then
      s.rt = rt
      s.at = body:match('"access_token":"([^"]+)"')
    end
  end
  if got == want then
    local f = io.open(out, "w")
    for _, s in ipairs(sessions) do f:write(s.rt, " ", s.at, "\n") end
    for code, n in pairs(status) do f:write("# ", code, " ", n, "\n") end
    f:close()
    os.exit(0)  -- wrk.thread:stop() would wait out the -d duration
  end
end
