/*
 * Applies the embedded migrations with blocking libpq calls. Concurrent writers
 * starting together serialise on pg_advisory_lock, so each migration runs once; the
 * lock is session-level and dies with the connection if a writer is killed.
 */
#include "migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* "hookpipe" in ASCII: the advisory lock key shared by every writer. */
#define MIGRATE_LOCK_KEY "7525356009597530213"

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

static int migrate_one(PGconn *pg, const struct migration *m, char *err, size_t errlen)
{
    char v[16];
    const char *params[2] = {v, m->name};
    PGresult *res;

    snprintf(v, sizeof(v), "%d", m->version);
    if (migrate_exec(pg, "BEGIN", err, errlen) != 0)
        return -1;
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
    return migrate_exec(pg, "COMMIT", err, errlen);
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
    bool locked = false;

    *retryable = false;
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errlen, "connect: %s", pg ? PQerrorMessage(pg) : "out of memory");
        err[strcspn(err, "\n")] = '\0';
        *retryable = true;
        applied = -1;
        goto done;
    }
    if (migrate_exec(pg, "SET client_min_messages = warning", err, errlen) != 0 ||
        migrate_exec(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen) != 0) {
        *retryable = PQstatus(pg) != CONNECTION_OK;
        applied = -1;
        goto done;
    }
    locked = true;
    if (migrate_exec(pg, MIGRATE_BOOTSTRAP, err, errlen) != 0) {
        applied = -1;
        goto done;
    }
    for (size_t i = 0; i < migrate_embedded_count; i++) {
        const struct migration *m = &migrate_embedded[i];
        bool done = false;
        if (migrate_applied(pg, m->version, &done, err, errlen) != 0) {
            applied = -1;
            goto done;
        }
        if (done)
            continue;
        if (migrate_one(pg, m, err, errlen) != 0) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s: %s", m->name, err);
            snprintf(err, errlen, "%s", msg);
            applied = -1;
            goto done;
        }
        log_msg(LOG_INFO, "migration applied", "version=%d name=%s", m->version, m->name);
        applied++;
    }
done:
    if (applied < 0 && pg != NULL && PQstatus(pg) != CONNECTION_OK)
        *retryable = true;
    if (locked && PQstatus(pg) == CONNECTION_OK)
        PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    PQfinish(pg);
    return applied;
}
