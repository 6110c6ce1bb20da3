-- wrk script: log in as bench until args[2] refresh tokens are written to
-- the file args[1], one a line, then stop.
local out, want, got = nil, 0, 0
local body = "grant_type=password&username=bench&password=correct%20horse%20battery"

function init(args)
  out = io.open(args[1], "w")
  want = tonumber(args[2])
end

function request()
  return wrk.format("POST", "/token",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function response(status, headers, body)
  if got >= want then return end
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    out:write(token, "\n")
    got = got + 1
    if got >= want then
      out:close()
      wrk.thread:stop()
    end
  end
end
