/*
 * See ev_hiredis.h. hiredis reports a connect that fails at once (a bad address, no memory)
 * in ac->err of the context it returns, which the caller must free: done here.
 */
#include "ev_hiredis.h"

#include <hiredis/adapters/libevent.h>
#include <stdio.h>

redisAsyncContext *ev_hiredis_connect(struct event_base *base, const char *host, int port,
                                      const char *path, void *data,
                                      redisConnectCallback *on_connect,
                                      redisDisconnectCallback *on_disconnect, char *err,
                                      size_t errlen)
{
    redisAsyncContext *ac =
        host != NULL ? redisAsyncConnect(host, port) : redisAsyncConnectUnix(path);

    if (ac == NULL || ac->err) {
        snprintf(err, errlen, "%s", ac != NULL ? ac->errstr : "out of memory");
        goto fail;
    }
    if (redisLibeventAttach(ac, base) != REDIS_OK) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    ac->data = data;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
fail:
    if (ac != NULL)
        redisAsyncFree(ac);
    return NULL;
}
