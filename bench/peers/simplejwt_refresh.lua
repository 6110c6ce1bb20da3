-- wrk script: simplejwt's refresh endpoint, one fresh refresh token per
-- request, read from a file (args[1]).
local tokens, i = {}, 0

function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end

function request()
  i = i + 1
  local body = '{"refresh": "' .. tokens[((i - 1) % #tokens) + 1] .. '"}'
  return wrk.format("POST", "/token/refresh",
    {["Content-Type"] = "application/json"}, body)
end
