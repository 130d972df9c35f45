-- wrk script for bench/run: sends signed Zoom webhooks, every body distinct.
-- Usage: wrk ... -s bench/zoom.lua URL -- DATA.lua   (DATA.lua is written by bench/zoomgen.py)
--   mode "pool": cycles through pre-signed raw requests (no per-request work in wrk);
--   mode "live": formats each body from a template and signs it here (HMAC-SHA256 through
--   LuaJIT's FFI into the libcrypto wrk already links), so long runs never repeat a body.
--   mode "stream": reads pre-signed requests one after the other from a file (an 8-digit
--   length, then the bytes): no body twice and no signing in wrk. One thread only; should
--   the file run out it starts again (counted as "wraps": those are duplicates).
-- done() prints one "BENCH k=v ..." line that bench/bench.py parses.

local ffi = require("ffi")

local data
local nreq, idx = 0, 0
local counter = 0
local tid = 0

ffi.cdef([[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
int OPENSSL_buf2hexstr_ex(char *str, size_t str_n, size_t *strlength, const unsigned char *buf,
                          size_t buflen, const char sep);
]])

local md = ffi.new("unsigned char[32]")
local mdlen = ffi.new("unsigned int[1]")
local hexbuf = ffi.new("char[97]")
local hexlen = ffi.new("size_t[1]")

-- OpenSSL's hex encoder (upper case); Zoom's signature is lower case hex.
local function hex32()
    ffi.C.OPENSSL_buf2hexstr_ex(hexbuf, 97, hexlen, md, 32, 0)
    return string.lower(ffi.string(hexbuf, 64))
end

local threads = {}
local stream
wraps = 0

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

function init(args)
    data = dofile(args[1])
    if data.mode == "live" then
        assert(table.concat(data.order, ",") == "ts_ms,acct,meeting,n,n,n,n,acct,n",
               "bench/zoom.lua: live_request() argument order differs from the template's")
    end
    if data.mode == "pool" then
        nreq = #data.requests
    end
    if data.mode == "stream" then
        stream = assert(io.open(data.file, "rb"))
    end
    -- stagger where each thread starts so threads do not send the same bytes at once
    idx = (tid * 7919) % math.max(nreq, 1)
end

local function live_request()
    counter = counter + 1
    local n = data.first + tid * 1000000000 + counter
    local now = os.time()
    local acct = n % 10000
    -- argument order = data.order (checked in init)
    local body = string.format(data.template, now * 1000 + n % 1000, acct, 8000000000 + n, n, n,
                               n, n, acct, n)
    local msg = "v0:" .. now .. ":" .. body
    ffi.C.HMAC(ffi.C.EVP_sha256(), data.secret, #data.secret, msg, #msg, md, mdlen)
    return string.format(
        "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Zoom Marketplace/1.0a\r\n"
            .. "Content-Type: application/json; charset=utf-8\r\n"
            .. "x-zm-request-timestamp: %d\r\nx-zm-signature: v0=%s\r\n"
            .. "x-zm-trackingid: v=2.0&s=bench&rid=%016d\r\nContent-Length: %d\r\n\r\n%s",
        data.path, now, hex32(), n, #body, body)
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
    if data.mode == "live" then
        return live_request()
    end
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
