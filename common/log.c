/*
 * logfmt lines on stderr. Each line is formatted into one buffer and written with a
 * single write(2), so lines from several threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_component = "hookpipe";
static _Atomic int log_min_level = LOG_INFO; /* changed by a reload while threads log */

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *component, enum log_level min_level)
{
    log_component = component;
    log_min_level = (int)min_level;
}

void log_set_level(enum log_level min_level)
{
    log_min_level = (int)min_level;
}

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcmp(name, log_level_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

/* Appends s[0..n) JSON-escaped to out[*len..cap), stopping short of the end. */
static void log_escape(char *out, size_t *len, size_t cap, const char *s, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t j = *len;

    for (size_t i = 0; i < n && j + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[j++] = '\\';
            out[j++] = (char)c;
        } else if (c == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else if (c == '\r') {
            out[j++] = '\\';
            out[j++] = 'r';
        } else if (c == '\t') {
            out[j++] = '\\';
            out[j++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(out + j, "\\u00", 4);
            out[j + 4] = digits[c >> 4];
            out[j + 5] = digits[c & 0xf];
            j += 6;
        } else {
            out[j++] = (char)c;
        }
    }
    *len = j;
}

const char *log_valuen(const char *s, size_t n)
{
    /* escapes may double the text: past 2 * LOG_VALUE_MAX bytes it is cut */
    static _Thread_local char slots[LOG_VALUE_SLOTS][LOG_VALUE_MAX * 2 + 8];
    static _Thread_local unsigned next;
    char *out = slots[next++ % LOG_VALUE_SLOTS];
    size_t len = 0;

    out[len++] = '"';
    if (s != NULL)
        log_escape(out, &len, sizeof(slots[0]) - 2, s, n < LOG_VALUE_MAX ? n : LOG_VALUE_MAX);
    out[len++] = '"';
    out[len] = '\0';
    return out;
}

const char *log_value(const char *s)
{
    return log_valuen(s, s != NULL ? strnlen(s, LOG_VALUE_MAX) : 0);
}

void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
{
    char line[4096];
    struct timeval tv;
    struct tm tm;
    size_t len;
    int n;

    if ((int)level < log_min_level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s comp=%s msg=\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(tv.tv_usec / 1000), log_level_names[level], log_component);
    if (n < 0)
        return;
    len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    log_escape(line, &len, sizeof(line) / 2, msg, strlen(msg));
    line[len++] = '"';
    if (fmt != NULL && fmt[0] != '\0' && len < sizeof(line) - 2) {
        va_list ap;
        line[len++] = ' ';
        va_start(ap, fmt);
        n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
        va_end(ap);
        if (n > 0)
            len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
    }
    if (len >= sizeof(line) - 1)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, len) < 0) {
        /* nowhere left to report a failed log write */
    }
}
