/*
 * Structured logging: one logfmt line per event on stderr, e.g.
 *   ts=2026-11-27T14:20:45.123Z level=info comp=gateway msg="listening" addr=0.0.0.0:8080
 * Callers pass the key=value tail themselves; log_msg() adds ts, level and component.
 * A value that may hold spaces, quotes or control bytes goes through log_value(), which
 * quotes and escapes it, so every line parses as logfmt. Never pass secrets or request
 * bodies here.
 */
#ifndef HOOKPIPE_LOG_H
#define HOOKPIPE_LOG_H

#include <stddef.h>

enum log_level {
    LOG_DEBUG,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
};

/* Sets the component name written as comp=... (a static string) and the minimum level. */
void log_init(const char *component, enum log_level min_level);

/* Changes the minimum level; safe while other threads log (SIGHUP reload). */
void log_set_level(enum log_level min_level);

/*
 * Writes one line: ts, level, comp, msg="..." (msg escaped) then the printf-formatted
 * key=value tail, e.g. log_msg(LOG_WARN, "push failed", "conn=%d error=%s", id, log_value(e)).
 */
void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_VALUE_MAX 256 /* bytes of a value kept by log_value; longer ones are cut */
#define LOG_VALUE_SLOTS 4 /* log_value results usable at once in one log_msg call */

/*
 * s as a logfmt value: in double quotes, with '"', '\\' and control bytes escaped as in
 * JSON (\", \\, \n, \r, \t, \u00XX), cut to LOG_VALUE_MAX bytes of s (and its escaped
 * form to twice that). NULL gives "".
 * Returns one of LOG_VALUE_SLOTS thread-local buffers that rotate, so up to that many
 * may be passed to one log_msg call.
 */
const char *log_value(const char *s);
/* The same for s[0..n) (no NUL needed). */
const char *log_valuen(const char *s, size_t n);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *name);

#endif
