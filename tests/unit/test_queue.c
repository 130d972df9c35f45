/*
 * Unit tests for common/queue.c: key names of a queue and of its WebSocket subscriptions (a
 * hash-tagged queue keeps the tag in every key, so all of them hash to one Redis Cluster
 * slot) and the rule that every redis.call in every script names its key through KEYS, never
 * a name built from ARGV — checked for every script the file defines, found in its source.
 */
#include "check.h"
#include "queue.h"

#include <stdbool.h>
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
    {
        char state[QUEUE_KEY_MAX], lease[QUEUE_KEY_MAX];
        queue_key(state, sizeof(state), "{hookpipe}:events", QUEUE_KEY_WS_STATE, "zoomws");
        queue_key(lease, sizeof(lease), "{hookpipe}:events", QUEUE_KEY_WS_LEASE, "zoomws");
        CHECK(key_slot(k.queue) == key_slot(state));
        CHECK(key_slot(k.queue) == key_slot(lease));
    }
    /* existing names stay as they are: no tag, no change */
    queue_keys_init(&k, "hookpipe:events", "w-1");
    CHECK_STR_EQ(k.processing, "hookpipe:events:processing:w-1");
    CHECK_STR_EQ(k.heartbeat, "hookpipe:events:writer:w-1");
    CHECK_STR_EQ(k.writers, "hookpipe:events:writers");
    CHECK_STR_EQ(k.queue, "hookpipe:events");
}

/* queue_key alone: a writer "" gives the prefix status SCANs for; a long name is cut. */
static void test_key_prefix(void)
{
    char out[QUEUE_KEY_MAX], small[12];

    queue_key(out, sizeof(out), "q", QUEUE_KEY_PROCESSING, "");
    CHECK_STR_EQ(out, "q:processing:");
    queue_key(out, sizeof(out), "q", QUEUE_KEY_HEARTBEAT, "");
    CHECK_STR_EQ(out, "q:writer:");
    queue_key(out, sizeof(out), "q", QUEUE_KEY_WRITERS, "ignored");
    CHECK_STR_EQ(out, "q:writers");
    queue_key(small, sizeof(small), "q", QUEUE_KEY_PROCESSING, "w-1");
    CHECK_STR_EQ(small, "q:processin");
}

/* The WebSocket subscription keys of source S: its state hash and its lease. */
static void test_ws_keys(void)
{
    char out[QUEUE_KEY_MAX];

    queue_key(out, sizeof(out), "hookpipe:events", QUEUE_KEY_WS_STATE, "zoom_ws-1");
    CHECK_STR_EQ(out, "hookpipe:events:ws:zoom_ws-1");
    queue_key(out, sizeof(out), "hookpipe:events", QUEUE_KEY_WS_LEASE, "zoom_ws-1");
    CHECK_STR_EQ(out, "hookpipe:events:ws:zoom_ws-1:lease");
    /* no source name can make one source's key another's: names hold no ':' */
    queue_key(out, sizeof(out), "q", QUEUE_KEY_WS_STATE, "");
    CHECK_STR_EQ(out, "q:ws:");
}

/* The forced recovery is the normal one less its first line, the heartbeat check. */
static void test_recover_force(void)
{
    const char *nl = strchr(queue_script_recover, '\n');
    struct queue_keys k;
    const char *argv[QUEUE_RECOVER_ARGC];

    CHECK(nl != NULL && strncmp(queue_script_recover, "if redis.call('EXISTS', KEYS[1])", 32) == 0);
    CHECK(nl != NULL && strcmp(nl + 1, queue_script_recover_force) == 0);
    queue_keys_init(&k, "q", "w");
    CHECK(queue_recover_argv(&k, "w", false, argv) == QUEUE_RECOVER_ARGC);
    CHECK_STR_EQ(argv[0], "EVAL");
    CHECK(argv[1] == queue_script_recover);
    CHECK_STR_EQ(argv[2], "4");
    CHECK_STR_EQ(argv[3], "q:writer:w");
    CHECK_STR_EQ(argv[4], "q:processing:w");
    CHECK_STR_EQ(argv[5], "q");
    CHECK_STR_EQ(argv[6], "q:writers");
    CHECK_STR_EQ(argv[7], "w");
    CHECK(queue_recover_argv(&k, "w", true, argv) == QUEUE_RECOVER_ARGC);
    CHECK(argv[1] == queue_script_recover_force);
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

/* queue_scripts lists every script common/queue.c defines (so the check below sees all). */
static void test_every_script_listed(void)
{
    static char src[65536];
    FILE *f = fopen(SOURCE_DIR "/common/queue.c", "r");
    size_t len, defined = 0, listed = 0;
    const char *p = src;

    CHECK(f != NULL);
    if (f == NULL)
        return;
    len = fread(src, 1, sizeof(src) - 1, f);
    fclose(f);
    src[len] = '\0';
    while ((p = strstr(p, "\nconst char queue_script_")) != NULL) {
        const char *name = p + strlen("\nconst char queue_script_");
        size_t n = strcspn(name, "[");
        bool found = false;
        for (const struct queue_script *s = queue_scripts; s->name != NULL; s++)
            found = found || (strlen(s->name) == n && strncmp(name, s->name, n) == 0);
        CHECKF(found, "queue_script_%.*s is not in queue_scripts", (int)n, name);
        defined++;
        p = name;
    }
    for (const struct queue_script *s = queue_scripts; s->name != NULL; s++)
        listed++;
    CHECK(defined == listed);
    CHECK(defined >= 6);
}

int main(void)
{
    test_hash_tag_one_slot();
    test_key_prefix();
    test_ws_keys();
    test_recover_force();
    test_every_script_listed();
    for (const struct queue_script *s = queue_scripts; s->name != NULL; s++)
        check_keys_declared(s->name, s->text);
    return check_summary("test_queue");
}
