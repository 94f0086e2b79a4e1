-- wrk script: every response's wall-clock time, latency and status, written at the end.
-- Run with as many threads as connections (-tN -cN): one connection per thread, so a
-- request's latency is from its write to its response, without pipelining guesswork.
-- Arguments (after --): OUT-FILE [PAUSE-MS]  (a pause after each response paces the load)
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } gr_timespec;
int clock_gettime(int clk_id, gr_timespec *tp);
]]
local ts = ffi.new("gr_timespec")
local function now()
    ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME: comparable with the deploys' time.time()
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    out_file = args[1] or "wrk-timeline.csv"
    pause = tonumber(args[2] or "0")
    ats, lats, codes, n = {}, {}, {}, 0
    sent = nil
end

function request()
    sent = now()
    return wrk.request()
end

function response(status, headers, body)
    local t = now()
    n = n + 1
    ats[n] = sent or t
    lats[n] = t - (sent or t)
    codes[n] = status
    sent = nil
end

function delay()
    return pause
end

function done(summary, latency, requests)
    local f = io.open(threads[1]:get("out_file"), "w")
    local e = summary.errors
    f:write(string.format("#summary,%d,%d,%d,%d,%d,%d,%d\n", summary.requests, summary.duration,
        e.connect, e.read, e.write, e.status, e.timeout))
    for _, thread in ipairs(threads) do
        local a, l, c = thread:get("ats"), thread:get("lats"), thread:get("codes")
        for i = 1, #a do
            f:write(string.format("%.6f,%.6f,%d\n", a[i], l[i], c[i]))
        end
    end
    f:close()
end
