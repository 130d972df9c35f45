/*
 * What the gateway knows of each client address, across its workers: how many
 * connections it holds (max_connections_per_address) and how many credentials it got
 * wrong lately (auth_failure_limit: past it, a penalty of auth_failure_penalty_s during
 * which its authenticated requests get 429). IPv6 clients count per /64, the block one
 * host usually has. A fixed-size table under one mutex, taken once per connection and
 * once per refused credential, never per delivery. Unit-tested in tests/unit/test_peer.c.
 */
#ifndef HOOKPIPE_PEER_H
#define HOOKPIPE_PEER_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"

struct peer_limits {
    long max_connections; /* per address; 0 = no limit */
    long failure_limit;   /* failed credentials before a penalty; 0 = never throttled */
    long penalty_s;       /* length of a penalty, and how long failures are remembered */
};

/*
 * Sizes the table for max_connections connections plus PEER_FAILURE_SLOTS addresses
 * that only failed, and sets the limits. 0, or -1 when out of memory. Not thread-safe:
 * call before the workers start.
 */
#define PEER_FAILURE_SLOTS 65536
int peer_init(long max_connections, const struct peer_limits *limits)
    __attribute__((warn_unused_result));
void peer_free(void);

/*
 * A connection from addr opens at now (monotonic seconds): false when addr already holds
 * max_connections (the caller closes it). True also when the table is full (the address is then not
 * tracked, and peer_disconnect must not be called: *tracked says which).
 */
bool peer_connect(const struct cidr_addr *addr, double now, bool *tracked);
void peer_disconnect(const struct cidr_addr *addr);

/* Seconds left of addr's penalty at now (monotonic seconds), 0 when none. */
long peer_penalty(const struct cidr_addr *addr, double now);

/*
 * addr presented a wrong credential at now. Returns the penalty it starts, in seconds
 * (the failure_limit-th failure within penalty_s of the one before), else 0.
 */
long peer_failed(const struct cidr_addr *addr, double now);

#endif
