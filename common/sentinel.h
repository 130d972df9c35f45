/*
 * Where a daemon's Redis is: either [redis] url's host, or the master a set of Redis
 * Sentinels name ([redis] sentinels + master_name, credentials and db still from url).
 * Pure parts of the Sentinel client rules: the address list, reading the replies of
 * SENTINEL get-master-addr-by-name and ROLE and the +switch-master messages, and which
 * sentinel to ask next.
 */
#ifndef HOOKPIPE_SENTINEL_H
#define HOOKPIPE_SENTINEL_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "redis_url.h"

#define SENTINEL_MAX 16       /* addresses in [redis] sentinels */
#define SENTINEL_HOST_MAX 256 /* host names, with their NUL */
#define SENTINEL_NAME_MAX 128 /* master_name, with its NUL */

struct sentinel_addr {
    char host[SENTINEL_HOST_MAX]; /* name or address, IPv6 without brackets */
    int port;
};

struct redis_target {
    struct redis_url url; /* credentials and db; host:port unless sentinels */
    size_t nsentinels;    /* 0 = connect to url's host directly */
    struct sentinel_addr sentinels[SENTINEL_MAX]; /* asked in this order */
    char master_name[SENTINEL_NAME_MAX];          /* SENTINEL get-master-addr-by-name argument */
    const char *bad_key; /* after a failed parse: the [redis] key at fault ("url", …) */
};

/*
 * Builds a target from [redis] url, sentinels ("host:port[,host:port...]", "" = none) and
 * master_name. With sentinels, url must be redis:// (its host is not used) and master_name
 * must be set. Returns 0, or -1 with a static reason in *why (never the password) and the
 * key at fault in out->bad_key: "url", "sentinels" or "master_name".
 */
int redis_target_parse(const char *url, const char *sentinels, const char *master_name,
                       struct redis_target *out, const char **why)
    __attribute__((warn_unused_result));

/* What a sentinel said about the master. */
enum sentinel_answer {
    SENTINEL_ANSWER_ADDR,    /* host and port filled in */
    SENTINEL_ANSWER_UNKNOWN, /* nil: this sentinel monitors no master of that name */
    SENTINEL_ANSWER_ERROR,   /* an error reply (e.g. no sentinel at all) */
    SENTINEL_ANSWER_BAD,     /* a reply of the wrong shape */
};

/* Reads the reply of SENTINEL get-master-addr-by-name (["host", "port"] or nil). */
enum sentinel_answer sentinel_parse_master(const redisReply *r, char *host, size_t hostlen,
                                           int *port);

/*
 * What a sentinel publishes on +switch-master when it has moved a master:
 * "<master-name> <old-ip> <old-port> <new-ip> <new-port>" (Redis' Sentinel documentation).
 */
enum sentinel_switch {
    SENTINEL_SWITCH_OURS,  /* master_name moved: the new host and port filled in */
    SENTINEL_SWITCH_OTHER, /* another master the sentinels watch moved */
    SENTINEL_SWITCH_BAD,   /* not five fields, or a port that is not 1..65535 */
};

/* Reads a +switch-master payload (len bytes at msg, no NUL needed) for master_name. */
enum sentinel_switch sentinel_parse_switch(const char *msg, size_t len, const char *master_name,
                                           char *host, size_t hostlen, int *port);

/* What a SUBSCRIBEd connection received (RESP2 push replies, as hiredis hands them over). */
enum sentinel_pubsub {
    SENTINEL_PUBSUB_SUBSCRIBED, /* ["subscribe", channel, count]: the subscription holds */
    SENTINEL_PUBSUB_MESSAGE,    /* ["message", channel, payload]: *payload set */
    SENTINEL_PUBSUB_OTHER,      /* anything else (an error, an unsubscribe) */
};

enum sentinel_pubsub sentinel_parse_pubsub(const redisReply *r, const redisReply **payload);

enum redis_role {
    REDIS_ROLE_MASTER,
    REDIS_ROLE_REPLICA,
    REDIS_ROLE_SENTINEL,
    REDIS_ROLE_UNKNOWN, /* an error or a reply of the wrong shape */
};

/* Reads the reply of ROLE: its first element names the role. */
enum redis_role sentinel_parse_role(const redisReply *r);

/* A static name for role, for log lines. */
const char *sentinel_role_name(enum redis_role role);

/* True for the error a replica gives to a write: the master moved, ask again. */
bool sentinel_is_readonly(const char *error);

/*
 * The sentinel to ask after sentinel i gave no usable answer: the next one, wrapping.
 * Returns (i + 1) % n; a full round is when it comes back to where it began.
 */
size_t sentinel_next(size_t i, size_t n);

/*
 * The Sentinel client guidelines move the sentinel that answered to the front, so the
 * next discovery asks it first. Moves entry i of t->sentinels to index 0.
 */
void sentinel_promote(struct redis_target *t, size_t i);

#endif
