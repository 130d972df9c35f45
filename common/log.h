/*
 * Structured logging: one logfmt line per event on stderr, e.g.
 *   ts=2026-11-27T14:20:45.123Z level=info comp=gateway msg="listening" addr=0.0.0.0:8080
 * Callers pass the key=value tail themselves; log_msg() adds ts, level and component.
 * Never pass secrets or request bodies here.
 */
#ifndef HOOKPIPE_LOG_H
#define HOOKPIPE_LOG_H

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

/* Writes one line: ts, level, comp, msg="..." then the printf-formatted key=value tail. */
void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *name);

#endif
