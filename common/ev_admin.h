/*
 * The admin listener: a small evhttp server on its own address serving
 * GET /metrics (Prometheus text from a render callback) and GET /healthz.
 */
#ifndef HOOKPIPE_EV_ADMIN_H
#define HOOKPIPE_EV_ADMIN_H

#include <event2/event.h>
#include <stddef.h>

#include "metrics.h"

struct admin_server;

/* Appends the whole metrics text to sb. */
typedef void (*admin_render_fn)(struct strbuf *sb, void *arg);

/*
 * Listens on hostport ("host:port") on base. Returns NULL with a reason in err
 * when the address cannot be bound.
 */
struct admin_server *admin_server_start(struct event_base *base, const char *hostport,
                                        admin_render_fn render, void *arg, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void admin_server_free(struct admin_server *admin);

/*
 * Opens a non-blocking TCP listening socket on hostport with SO_REUSEADDR (and
 * SO_REUSEPORT when reuseport). Returns the fd, or -1 with a reason in err.
 */
int admin_listen_socket(const char *hostport, int backlog, int reuseport, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
