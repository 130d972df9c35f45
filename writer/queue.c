/*
 * Lua scripts for the reliable queue. Each runs atomically in Redis, so a claim
 * either moves an item into exactly one processing list or leaves it in the queue,
 * and a recovery cannot interleave with the owner's claim.
 */
#include "queue.h"

#include <stdio.h>

void queue_keys_init(struct queue_keys *keys, const char *queue, const char *name)
{
    snprintf(keys->queue, sizeof(keys->queue), "%s", queue);
    snprintf(keys->processing, sizeof(keys->processing), "%s:processing:%s", queue, name);
    snprintf(keys->heartbeat, sizeof(keys->heartbeat), "%s:writer:%s", queue, name);
    snprintf(keys->writers, sizeof(keys->writers), "%s:writers", queue);
}

/*
 * The heartbeat, shared by every script that refreshes it. EXPIRE first, SET only when
 * the key is gone: EXPIRE is no "deny-oom" command, so it runs even at maxmemory.
 */
#define QUEUE_LUA_HEARTBEAT                                                                        \
    "if redis.call('EXPIRE', KEYS[3], ARGV[3]) == 0 then\n"                                        \
    "  redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])\n"                                       \
    "end\n"                                                                                        \
    "redis.call('SADD', KEYS[4], ARGV[2])\n"

/*
 * The pop comes first. At maxmemory under noeviction Redis refuses a script's first
 * deny-oom command (SET, SADD, RPUSH, LMOVE) but lets every later write through once the
 * script has run a write command; RPOP is a write but no deny-oom command. So a claim
 * still drains a full Redis, which is what frees its memory. (Redis 7.0, checked with
 * EVAL.) RPOP with a count needs Redis >= 6.2; unpack() is chunked to stay under Lua's C
 * stack.
 */
const char queue_script_claim[] =
    "local n = tonumber(ARGV[1])\n"
    "local items = {}\n"
    "if n > 0 then items = redis.call('RPOP', KEYS[1], n) or {} end\n" QUEUE_LUA_HEARTBEAT
    "for i = 1, #items, 1000 do\n"
    "  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))\n"
    "end\n"
    "return items\n";

/*
 * SREM is the first write (no deny-oom command, see the claim), so the moves after it go
 * through at maxmemory too; LMOVE moves one item at a time, so memory does not grow.
 */
const char queue_script_recover[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end\n"
    "redis.call('SREM', KEYS[4], ARGV[1])\n"
    "local n = redis.call('LLEN', KEYS[2])\n"
    "for i = 1, n do redis.call('LMOVE', KEYS[2], KEYS[3], 'RIGHT', 'RIGHT') end\n"
    "return n\n";

const char queue_script_release[] =
    "local n = tonumber(ARGV[1])\n"
    "if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[2] or\n"
    "   redis.call('LINDEX', KEYS[1], n - 1) ~= ARGV[3] then return -1 end\n"
    "if redis.call('LLEN', KEYS[1]) == n then redis.call('DEL', KEYS[1])\n"
    "else redis.call('LTRIM', KEYS[1], n, -1) end\n"
    "return n\n";

const char queue_script_bye[] = "local n = redis.call('LLEN', KEYS[1])\n"
                                "if n == 0 then\n"
                                "  redis.call('DEL', KEYS[2])\n"
                                "  redis.call('SREM', KEYS[3], ARGV[1])\n"
                                "end\n"
                                "return n\n";

/* Every key in KEYS (the names were read first), so a cluster can route it by slot. */
const char queue_script_gauges[] = "local out = {redis.call('LLEN', KEYS[1])}\n"
                                   "for i = 2, #KEYS do\n"
                                   "  out[#out + 1] = ARGV[i - 1]\n"
                                   "  out[#out + 1] = redis.call('LLEN', KEYS[i])\n"
                                   "end\n"
                                   "return out\n";
