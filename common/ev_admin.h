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
 * Listens on hostport ("host:port"; port 0: any free one) on base and logs the address it
 * bound: msg="listening" what=admin addr=HOST:PORT. Returns NULL with a reason in err
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

/*
 * Writes the address listening socket fd is bound to as "host:port" ("[v6]:port"), numeric,
 * with the port the kernel chose when the configured one was 0. Returns 0, or -1 with a
 * reason in buf.
 */
#define ADMIN_ADDR_LEN 64 /* INET6_ADDRSTRLEN + brackets + ":65535" fit */
int admin_socket_address(int fd, char *buf, size_t len) __attribute__((warn_unused_result));

#endif
