-- Shared by the bench scripts: thread ids, a wall clock, and one JSON summary line for bench.py.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_usec; } pb_timeval;
int gettimeofday(pb_timeval *tv, void *tz);
]])
local tv = ffi.new("pb_timeval")

-- os.clock() is CPU time and os.time() has 1 s resolution: both useless for a deadline.
function wall()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- Sum a per-thread counter (names listed by the script in `counters`).
local function total(name, reduce)
  local acc = nil
  for _, thread in ipairs(threads) do
    local value = thread:get(name)
    if value ~= nil then
      acc = acc == nil and value or reduce(acc, value)
    end
  end
  return acc
end

local function add(a, b) return a + b end

function done(summary, latency, requests)
  local e = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"p50_us":%d', latency:percentile(50)),
    string.format('"p99_us":%d', latency:percentile(99)),
    string.format('"max_us":%d', latency.max),
    string.format('"connect":%d,"read":%d,"write":%d', e.connect, e.read, e.write),
    string.format('"status":%d,"timeout":%d', e.status, e.timeout),
  }
  for _, name in ipairs(counters or {}) do
    table.insert(parts, string.format('"%s":%d', name, total(name, add) or 0))
  end
  local first, last = total("first_at", math.min), total("last_at", math.max)
  if first and last then
    table.insert(parts, string.format('"active_us":%d', (last - first) * 1e6))
  end
  io.write("WRKJSON {" .. table.concat(parts, ",") .. "}\n")
end
