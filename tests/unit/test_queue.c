/*
 * Unit tests for writer/queue.c: key names of a queue (a hash-tagged queue keeps the tag
 * in every key, so all of them hash to one Redis Cluster slot) and the rule that every
 * redis.call in every script names its key through KEYS, never a name built from ARGV.
 */
#include "check.h"
#include "queue.h"

#include <stdio.h>
#include <string.h>

/* The Redis Cluster key slot: CRC16 (XMODEM) of the hash tag, or of the whole key. */
static unsigned crc16(const char *s, size_t n)
{
    unsigned crc = 0;

    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned)(unsigned char)s[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

static unsigned key_slot(const char *key)
{
    const char *open = strchr(key, '{');
    size_t n = strlen(key);

    if (open != NULL) {
        const char *close = strchr(open + 1, '}');
        if (close != NULL && close > open + 1)
            return crc16(open + 1, (size_t)(close - open - 1)) & 16383;
    }
    return crc16(key, n) & 16383;
}

static void test_hash_tag_one_slot(void)
{
    struct queue_keys k;

    CHECK(key_slot("123456789") == crc16("123456789", 9) % 16384);
    CHECK(crc16("123456789", 9) == 0x31C3); /* the XMODEM check value */
    queue_keys_init(&k, "{hookpipe}:events", "w-1");
    CHECK(key_slot(k.queue) == key_slot(k.processing));
    CHECK(key_slot(k.queue) == key_slot(k.heartbeat));
    CHECK(key_slot(k.queue) == key_slot(k.writers));
    CHECK_STR_EQ(k.processing, "{hookpipe}:events:processing:w-1");
    /* existing names stay as they are: no tag, no change */
    queue_keys_init(&k, "hookpipe:events", "w-1");
    CHECK_STR_EQ(k.processing, "hookpipe:events:processing:w-1");
    CHECK_STR_EQ(k.heartbeat, "hookpipe:events:writer:w-1");
    CHECK_STR_EQ(k.writers, "hookpipe:events:writers");
}

/* Every redis.call('CMD', FIRST...) in script has FIRST beginning with KEYS[. */
static void check_keys_declared(const char *name, const char *script)
{
    const char *p = script;
    int calls = 0;

    while ((p = strstr(p, "redis.call('")) != NULL) {
        const char *comma = strchr(p, ',');
        calls++;
        CHECKF(comma != NULL, "%s: redis.call without a key", name);
        if (comma == NULL)
            break;
        while (*++comma == ' ')
            ;
        CHECKF(strncmp(comma, "KEYS[", 5) == 0, "%s: a key not from KEYS: %.40s", name, p);
        p = comma;
    }
    CHECKF(calls > 0, "%s: no redis.call found", name);
}

int main(void)
{
    test_hash_tag_one_slot();
    check_keys_declared("claim", queue_script_claim);
    check_keys_declared("recover", queue_script_recover);
    check_keys_declared("release", queue_script_release);
    check_keys_declared("bye", queue_script_bye);
    check_keys_declared("gauges", queue_script_gauges);
    return check_summary("test_queue");
}
