/*
 * Key names and Lua scripts of the reliable queue. Each script runs atomically in Redis,
 * so a claim either moves an item into exactly one processing list or leaves it in the
 * queue, and a recovery cannot interleave with the owner's claim.
 */
#include "queue.h"

#include <stdio.h>

void queue_key(char *out, size_t cap, const char *queue, enum queue_key_kind kind, const char *name)
{
    switch (kind) {
    case QUEUE_KEY_QUEUE:
        snprintf(out, cap, "%s", queue);
        break;
    case QUEUE_KEY_PROCESSING:
        snprintf(out, cap, "%s:processing:%s", queue, name);
        break;
    case QUEUE_KEY_HEARTBEAT:
        snprintf(out, cap, "%s:writer:%s", queue, name);
        break;
    case QUEUE_KEY_WRITERS:
        snprintf(out, cap, "%s:writers", queue);
        break;
    case QUEUE_KEY_WS_STATE:
        snprintf(out, cap, "%s:ws:%s", queue, name);
        break;
    case QUEUE_KEY_WS_LEASE:
        snprintf(out, cap, "%s:ws:%s:lease", queue, name);
        break;
    }
}

void queue_keys_init(struct queue_keys *keys, const char *queue, const char *name)
{
    queue_key(keys->queue, sizeof(keys->queue), queue, QUEUE_KEY_QUEUE, name);
    queue_key(keys->processing, sizeof(keys->processing), queue, QUEUE_KEY_PROCESSING, name);
    queue_key(keys->heartbeat, sizeof(keys->heartbeat), queue, QUEUE_KEY_HEARTBEAT, name);
    queue_key(keys->writers, sizeof(keys->writers), queue, QUEUE_KEY_WRITERS, name);
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
 * The move of a recovery, with or without the heartbeat check before it. SREM is the first
 * write (no deny-oom command, see the claim), so the moves after it go through at
 * maxmemory too; LMOVE moves one item at a time, so memory does not grow.
 */
#define QUEUE_LUA_RECOVER_MOVE                                                                     \
    "redis.call('SREM', KEYS[4], ARGV[1])\n"                                                       \
    "local n = redis.call('LLEN', KEYS[2])\n"                                                      \
    "for i = 1, n do redis.call('LMOVE', KEYS[2], KEYS[3], 'RIGHT', 'RIGHT') end\n"                \
    "return n\n"

const char queue_script_recover[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end\n" QUEUE_LUA_RECOVER_MOVE;

const char queue_script_recover_force[] = QUEUE_LUA_RECOVER_MOVE;

int queue_recover_argv(const struct queue_keys *keys, const char *name, bool force,
                       const char *argv[QUEUE_RECOVER_ARGC])
{
    argv[0] = "EVAL";
    argv[1] = force ? queue_script_recover_force : queue_script_recover;
    argv[2] = "4";
    argv[3] = keys->heartbeat;
    argv[4] = keys->processing;
    argv[5] = keys->queue;
    argv[6] = keys->writers;
    argv[7] = name;
    return QUEUE_RECOVER_ARGC;
}

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

/* The WebSocket subscription scripts (see queue.h): the lease, and the gap item it pushes. */
const char queue_script_ws_renew[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'alive_us', ARGV[3]) end\n"
    "if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'heartbeat_us', ARGV[4]) end\n"
    "return 1\n";

/* PEXPIRE first: a write that is no deny-oom command, so the script runs at maxmemory and
 * only its LPUSH can fail there (the whole script then fails, and is retried) */
const char queue_script_ws_connected[] =
    "if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end\n"
    "redis.call('PEXPIRE', KEYS[3], ARGV[4])\n"
    "local alive = redis.call('HGET', KEYS[2], 'alive_us')\n"
    "local gap = 0\n"
    "if alive and tonumber(alive) < tonumber(ARGV[2]) then\n"
    "  local reason = redis.call('HGET', KEYS[2], 'down_reason') or 'holder_lost'\n"
    "  redis.call('LPUSH', KEYS[1], 'HPG1 ' .. ARGV[3] .. ' ' .. alive .. ' ' .. ARGV[2] .. ' ' "
    "..\n"
    "             reason .. ' ' .. ARGV[1] .. '\\n')\n"
    "  gap = tonumber(ARGV[2]) - tonumber(alive)\n"
    "end\n"
    "redis.call('HSET', KEYS[2], 'holder', ARGV[1], 'connected_us', ARGV[2], 'alive_us', ARGV[2],\n"
    "           'heartbeat_us', ARGV[2])\n"
    "redis.call('HDEL', KEYS[2], 'down_reason')\n"
    "return gap\n";

/* HDEL first (no deny-oom command), so the HSET after it runs on a Redis at maxmemory too */
const char queue_script_ws_down[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end\n"
    "if ARGV[2] ~= '' then\n"
    "  redis.call('HDEL', KEYS[1], 'connected_us')\n"
    "  redis.call('HSET', KEYS[1], 'alive_us', ARGV[2], 'down_reason', ARGV[3])\n"
    "end\n"
    "if ARGV[4] == '1' then redis.call('DEL', KEYS[2]) end\n"
    "return 1\n";

const struct queue_script queue_scripts[] = {
    {"claim", queue_script_claim},
    {"recover", queue_script_recover},
    {"recover_force", queue_script_recover_force},
    {"release", queue_script_release},
    {"bye", queue_script_bye},
    {"gauges", queue_script_gauges},
    {"ws_renew", queue_script_ws_renew},
    {"ws_connected", queue_script_ws_connected},
    {"ws_down", queue_script_ws_down},
    {NULL, NULL},
};
