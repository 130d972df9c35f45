/*
 * Schema migrations: sql/NNN_name.sql files embedded into the binary at build time
 * (writer/embed_sql.cmake) and applied in order, each once, under a PostgreSQL
 * advisory lock, recorded in hookpipe.schema_migrations.
 */
#ifndef HOOKPIPE_MIGRATE_H
#define HOOKPIPE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

struct migration {
    int version;      /* NNN */
    const char *name; /* NNN_name */
    const char *sql;  /* the file's text */
};

extern const struct migration migrate_embedded[]; /* ascending version */
extern const size_t migrate_embedded_count;

/*
 * Connects with conninfo (blocking: start-up and --migrate only, never the hot path),
 * takes the advisory lock and applies the pending migrations, each in its own
 * transaction. Returns the number applied (>= 0), or -1 with a reason in err; then
 * *retryable says whether the failure was the connection (try again later) rather
 * than a migration that failed.
 */
int migrate_apply(const char *conninfo, bool *retryable, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
