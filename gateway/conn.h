/*
 * One client connection of the gateway: an explicit state machine over a bufferevent
 * (plain or TLS) that reads a request head, then its body, verifies it, pushes it to
 * Redis and answers. Every state change goes through conn_set_state().
 */
#ifndef HOOKPIPE_CONN_H
#define HOOKPIPE_CONN_H

#include <event2/util.h>

struct worker;

/*
 * Cap on the bytes all connections of the process hold (input, unsent answers and the
 * declared size of bodies being read; stats buffered_bytes). Over it, connections
 * outside a body stop reading, and a body that does not fit is answered 503.
 */
#define CONN_BUFFER_BUDGET ((int64_t)256 << 20)

/* Takes ownership of fd (an accepted socket) and starts serving it on w's loop. */
void conn_accept(struct worker *w, evutil_socket_t fd);

/* Shutdown: closes connections with no push in flight; the others close after answering. */
void conn_close_idle(struct worker *w);

/* The worker's tick: resumes reading on connections the buffer budget paused. */
void conn_resume_reading(struct worker *w);

/* Frees every connection left (end of the worker's loop). */
void conn_free_all(struct worker *w);

#endif
