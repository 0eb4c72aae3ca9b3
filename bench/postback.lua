-- Accepted postbacks: each request converts a different, already stored click.
-- Usage: wrk ... -s postback.lua URL -- IDS_FILE POSTBACK_PATH ACTIVE_SECONDS THREADS
-- (POSTBACK_PATH: the network's path with its token, /postback/KEY?token=SECRET)
--
-- After ACTIVE_SECONDS a connection stops sending (it "parks" on an empty request) instead of
-- being cut off by wrk's stop, so no postback is left in flight when wrk exits: every conversion
-- in the database was answered, and the 200s counted here must equal the conversions stored.
-- The rate is taken over the active window, not over wrk's whole run.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

counters = { "accepted", "duplicate", "other", "sent", "exhausted" }

function init(args)
  local nthreads = tonumber(args[4])
  ids = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      ids[#ids + 1] = line
    end
    i = i + 1
  end
  prefix = args[2] .. "&payout=1.5&clickid="
  deadline = wall() + tonumber(args[3])
  nxt, accepted, duplicate, other, sent, exhausted = 1, 0, 0, 0, 0, 0
end

function request()
  if nxt > #ids then
    exhausted = 1
    return ""
  end
  if wall() >= deadline then
    return ""
  end
  local clickid = ids[nxt]
  nxt = nxt + 1
  sent = sent + 1
  first_at = first_at or wall()
  return wrk.format("GET", prefix .. clickid .. "&txid=tx-" .. clickid)
end

function response(status, headers, body)
  last_at = wall()
  if status == 200 and body:sub(1, 11) == "OK accepted" then
    accepted = accepted + 1
  elseif status == 200 and body:sub(1, 12) == "OK duplicate" then
    duplicate = duplicate + 1
  else
    other = other + 1
  end
end
