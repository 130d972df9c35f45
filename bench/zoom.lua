-- wrk script for bench/run: sends signed Zoom webhooks, every body distinct. Nothing is
-- signed here: bench/zoomgen.py signs every request with the test harness's signer.
-- Usage: wrk ... -s bench/zoom.lua URL -- DATA.lua   (DATA.lua is written by bench/zoomgen.py)
--   mode "pool": cycles through pre-signed raw requests (no per-request work in wrk);
--   mode "stream": reads pre-signed requests one after the other from a file (an 8-digit
--   length, then the bytes): no body twice and no signing in wrk. One thread only; should
--   the file run out it starts again (counted as "wraps": those are duplicates).
-- done() prints one "BENCH k=v ..." line that bench/bench.py parses.

local data
local nreq, idx = 0, 0
local tid = 0

local threads = {}
local stream
wraps = 0

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

function init(args)
    data = dofile(args[1])
    if data.mode == "pool" then
        nreq = #data.requests
    end
    if data.mode == "stream" then
        stream = assert(io.open(data.file, "rb"))
    end
    -- stagger where each thread starts so threads do not send the same bytes at once
    idx = (tid * 7919) % math.max(nreq, 1)
end

local function stream_request()
    local len = stream:read(8)
    if len == nil then
        wraps = wraps + 1
        stream:seek("set", 0)
        len = stream:read(8)
    end
    return stream:read(tonumber(len))
end

function request()
    if data.mode == "stream" then
        return stream_request()
    end
    idx = idx + 1
    if idx > nreq then
        idx = 1
    end
    return data.requests[idx]
end

function done(summary, latency, requests)
    local e = summary.errors
    local w = 0
    for _, t in ipairs(threads) do
        w = w + (t:get("wraps") or 0)
    end
    io.write(string.format(
        "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d "
            .. "mean_us=%.1f err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d "
            .. "wraps=%d\n",
        summary.requests, summary.duration, summary.bytes, latency:percentile(50),
        latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
        e.connect, e.read, e.write, e.status, e.timeout, w))
end
