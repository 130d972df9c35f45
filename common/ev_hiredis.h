/*
 * Opening a hiredis async connection on a libevent base, the steps every Redis and Sentinel
 * connection of the daemons takes (ev_redis.c, ev_sentinel.c) written once.
 */
#ifndef HOOKPIPE_EV_HIREDIS_H
#define HOOKPIPE_EV_HIREDIS_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <stddef.h>

/*
 * Starts connecting to host:port (the Unix socket at path when host is NULL) on base, with
 * ac->data and the two callbacks set; the outcome comes from the loop. NULL when it cannot
 * even start, with the reason in err[errlen] (nothing to free then).
 */
redisAsyncContext *ev_hiredis_connect(struct event_base *base, const char *host, int port,
                                      const char *path, void *data,
                                      redisConnectCallback *on_connect,
                                      redisDisconnectCallback *on_disconnect, char *err,
                                      size_t errlen) __attribute__((warn_unused_result));

#endif
