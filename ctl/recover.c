/*
 * recover NAME [--force]: moves writer NAME's processing list back to the right end of the
 * queue, oldest first, with the writer's own recovery script (refused while NAME's
 * heartbeat lives). --force moves it anyway, with that script less its heartbeat check
 * (common/queue.c); a live writer then finds its list changed, releases nothing and
 * claims afresh, and event_key uniqueness absorbs the re-delivery.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "ctl.h"
#include "name.h"
#include "queue.h"

/* Runs one command with an integer reply into *out. false after one line. */
static bool recover_int(redisContext *rc, long long *out, const char *fmt, ...)
{
    redisReply *r;
    va_list ap;

    va_start(ap, fmt);
    r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    if (!ctl_redis_ok(rc, r, "looking up the writer"))
        return false;
    *out = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return true;
}

int ctl_recover(const struct ctl *ctl, int argc, char **argv)
{
    bool force = false;
    struct args_opt opts[] = {{"--force", NULL, &force}};
    char err[ARGS_ERR_LEN] = "";
    char *pos[1];
    size_t npos = 0;
    struct queue_keys keys;
    const char *cmd[QUEUE_RECOVER_ARGC];
    redisContext *rc = NULL;
    redisReply *r;
    long long has_list, registered, ttl;
    int ret = CTL_FAIL;
    int cmdc;

    if (args_parse(argc, argv, opts, 1, pos, 1, &npos, err, sizeof(err)) < 0 || npos != 1) {
        ctl_err("recover: %s", err[0] ? err : "needs a writer NAME");
        return CTL_USAGE;
    }
    if (!name_valid(pos[0], strlen(pos[0]))) {
        ctl_err("recover: bad writer name \"%s\" (1-%d of A-Z a-z 0-9 _ -)", pos[0], NAME_MAX_LEN);
        return CTL_USAGE;
    }
    queue_keys_init(&keys, ctl->cfg->redis.queue, pos[0]);
    rc = ctl_redis_connect(ctl);
    if (rc == NULL)
        return CTL_FAIL;
    /* what is known of NAME: its list, its registration, its heartbeat's TTL */
    if (!recover_int(rc, &has_list, "EXISTS %s", keys.processing) ||
        !recover_int(rc, &registered, "SISMEMBER %s %s", keys.writers, pos[0]) ||
        !recover_int(rc, &ttl, "TTL %s", keys.heartbeat))
        goto done;
    if (has_list == 0 && registered == 0 && ttl == -2) {
        ctl_err("recover: no writer %s on queue %s", pos[0], ctl->cfg->redis.queue);
        goto done;
    }
    if (!force && ttl != -2) {
        ctl_err("recover: writer %s is alive (heartbeat %lld s left); refusing without --force",
                pos[0], ttl);
        goto done;
    }
    cmdc = queue_recover_argv(&keys, pos[0], force, cmd);
    r = redisCommandArgv(rc, cmdc, cmd, NULL);
    if (!ctl_redis_ok(rc, r, "recovering"))
        goto done;
    if (r->type != REDIS_REPLY_INTEGER) {
        ctl_err("redis: unexpected reply to the recovery");
    } else if (r->integer < 0) {
        ctl_err("recover: writer %s came alive; refusing without --force", pos[0]);
    } else {
        printf("recovered %lld item%s of writer %s to queue %s\n", r->integer,
               r->integer == 1 ? "" : "s", pos[0], ctl->cfg->redis.queue);
        ret = CTL_OK;
    }
    freeReplyObject(r);
done:
    redisFree(rc);
    return ret;
}
