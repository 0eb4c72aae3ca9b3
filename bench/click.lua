-- A tracking-link click as an ad network sends it: browser headers and a few tokens.
-- Usage: wrk ... -s click.lua URL -- CAMPAIGN_KEY

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local agents = {
  "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    .. "Chrome/124.0.6367.113 Mobile Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    .. "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    .. "Chrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    .. "Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    .. "Chrome/123.0.6312.99 Mobile Safari/537.36",
}

function init(args)
  prefix = "/c/" .. (args[1] or "bench") .. "?zone=48213&placement=sidebar&sub1=creative-7"
  n = 0
end

function request()
  n = n + 1
  local headers = {
    ["User-Agent"] = agents[n % #agents + 1],
    ["Accept-Language"] = "en-US,en;q=0.9",
    ["Referer"] = "https://publisher.example/article/2024/best-phones",
  }
  -- A distinct external ID per click, as the traffic source's own click ID would be.
  return wrk.format("GET", prefix .. "&external_id=ext" .. id .. "x" .. n, headers)
end
