/*
 * Applies the embedded migrations with blocking libpq calls. Each migration runs in its
 * own transaction, which first takes pg_advisory_xact_lock and then checks whether it was
 * applied: concurrent writers starting together serialise on the lock, so each migration
 * runs once. Nothing outlives a transaction (no session lock, no session SET), so this
 * works through PgBouncer in transaction pooling, and a killed writer's lock dies with its
 * transaction.
 */
#include "migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* "hookpipe" in ASCII: the advisory lock key shared by every writer. */
#define MIGRATE_LOCK_KEY "7525356009597530213"

#define MIGRATE_BEGIN                                                                              \
    "BEGIN; SET LOCAL client_min_messages = warning; "                                             \
    "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")"

#define MIGRATE_BOOTSTRAP                                                                          \
    "CREATE SCHEMA IF NOT EXISTS hookpipe; "                                                       \
    "CREATE TABLE IF NOT EXISTS hookpipe.schema_migrations (version integer PRIMARY KEY, "         \
    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"

/* Runs sql; returns 0 or -1 with the server's message in err. */
static int migrate_exec(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(pg));
        err[strcspn(err, "\n")] = '\0';
        rc = -1;
    }
    PQclear(res);
    return rc;
}

static int migrate_applied(PGconn *pg, int version, bool *applied, char *err, size_t errlen)
{
    char v[16];
    const char *params[1] = {v};
    PGresult *res;
    int rc = 0;

    snprintf(v, sizeof(v), "%d", version);
    res = PQexecParams(pg, "SELECT 1 FROM hookpipe.schema_migrations WHERE version = $1", 1, NULL,
                       params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(pg));
        rc = -1;
    } else {
        *applied = PQntuples(res) > 0;
    }
    PQclear(res);
    return rc;
}

/* Applies m unless it already was; *applied says which. Returns 0 or -1 (err). */
static int migrate_one(PGconn *pg, const struct migration *m, bool *applied, char *err,
                       size_t errlen)
{
    char v[16];
    const char *params[2] = {v, m->name};
    PGresult *res;
    bool done = false;

    *applied = false;
    snprintf(v, sizeof(v), "%d", m->version);
    if (migrate_exec(pg, MIGRATE_BEGIN, err, errlen) != 0)
        goto fail;
    if (migrate_applied(pg, m->version, &done, err, errlen) != 0)
        goto fail;
    if (done)
        return migrate_exec(pg, "COMMIT", err, errlen);
    if (migrate_exec(pg, m->sql, err, errlen) != 0)
        goto fail;
    res = PQexecParams(pg, "INSERT INTO hookpipe.schema_migrations (version, name) VALUES ($1, $2)",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(pg));
        PQclear(res);
        goto fail;
    }
    PQclear(res);
    if (migrate_exec(pg, "COMMIT", err, errlen) != 0)
        goto fail;
    *applied = true;
    return 0;
fail:
    PQclear(PQexec(pg, "ROLLBACK"));
    return -1;
}

int migrate_apply(const char *conninfo, bool *retryable, char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "client_encoding", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo, "UTF8", "hookpipe-writer-migrate", "10", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    int applied = 0;

    *retryable = false;
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errlen, "connect: %s", pg ? PQerrorMessage(pg) : "out of memory");
        err[strcspn(err, "\n")] = '\0';
        *retryable = true;
        applied = -1;
        goto done;
    }
    if (migrate_exec(pg, MIGRATE_BEGIN, err, errlen) != 0 ||
        migrate_exec(pg, MIGRATE_BOOTSTRAP, err, errlen) != 0 ||
        migrate_exec(pg, "COMMIT", err, errlen) != 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        applied = -1;
        goto done;
    }
    for (size_t i = 0; i < migrate_embedded_count; i++) {
        const struct migration *m = &migrate_embedded[i];
        bool did = false;
        if (migrate_one(pg, m, &did, err, errlen) != 0) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s: %s", m->name, err);
            snprintf(err, errlen, "%s", msg);
            applied = -1;
            goto done;
        }
        if (!did)
            continue;
        log_msg(LOG_INFO, "migration applied", "version=%d name=%s", m->version, m->name);
        applied++;
    }
done:
    if (applied < 0 && pg != NULL && PQstatus(pg) != CONNECTION_OK)
        *retryable = true;
    PQfinish(pg);
    return applied;
}
