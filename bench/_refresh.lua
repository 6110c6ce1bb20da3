-- wrk script: one fresh refresh token per request, read from a file.
local tokens, i = {}, 0

function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end

function request()
  i = i + 1
  local body = "grant_type=refresh_token&refresh_token=" .. tokens[((i - 1) % #tokens) + 1]
  return wrk.format("POST", "/token",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
