-- wrk script for bench/dpop_verify.py: GET /me as "bearer" (args: mode,
-- token file) or as "dpop" (args: mode, token file, proofs file), each DPoP
-- request with the next pre-signed proof, so none is sent twice.
local mode, token, proofs, i = nil, nil, {}, 0

function init(args)
  mode = args[1]
  token = io.open(args[2]):read("*l")
  if mode == "dpop" then
    for line in io.lines(args[3]) do proofs[#proofs + 1] = line end
  end
end

function request()
  if mode == "bearer" then
    return wrk.format("GET", "/me", {["Authorization"] = "Bearer " .. token})
  end
  i = i + 1
  return wrk.format("GET", "/me",
    {["Authorization"] = "DPoP " .. token, ["DPoP"] = proofs[((i - 1) % #proofs) + 1]})
end
