/*
 * Argument helpers for hookpipe-ctl: option tables, numbers, times and globs. Pure
 * functions, unit-tested in tests/unit/test_ctl_args.c.
 */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct args_opt *args_find(const struct args_opt *opts, size_t nopts, const char *name,
                                        size_t len)
{
    for (size_t i = 0; i < nopts; i++) {
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    }
    return NULL;
}

int args_parse(int argc, char **argv, const struct args_opt *opts, size_t nopts, char **pos,
               size_t maxpos, size_t *npos, char *err, size_t errlen)
{
    bool only_pos = false;

    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
        } else if (!only_pos && a[0] == '-' && a[1] != '\0') {
            const char *eq = strchr(a, '=');
            size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
            const struct args_opt *o = args_find(opts, nopts, a, len);
            if (o == NULL || a[1] != '-') {
                snprintf(err, errlen, "unknown option %.*s", (int)len, a);
                return -1;
            }
            if ((o->set != NULL && *o->set) || (o->value != NULL && *o->value != NULL)) {
                snprintf(err, errlen, "%s given twice", o->name);
                return -1;
            }
            if (o->value == NULL) {
                if (eq != NULL) {
                    snprintf(err, errlen, "%s takes no value", o->name);
                    return -1;
                }
            } else if (eq != NULL) {
                *o->value = eq + 1;
            } else if (i + 1 < argc) {
                *o->value = argv[++i];
            } else {
                snprintf(err, errlen, "%s needs a value", o->name);
                return -1;
            }
            if (o->set != NULL)
                *o->set = true;
        } else {
            if (*npos >= maxpos) {
                snprintf(err, errlen, "unexpected argument \"%s\"", a);
                return -1;
            }
            pos[(*npos)++] = argv[i];
        }
    }
    return 0;
}

int args_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (s == NULL || (!isdigit((unsigned char)s[0]) && s[0] != '-'))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int args_double(const char *s, double max, double *out)
{
    char *end;
    double v;

    if (s == NULL || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v <= 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Reads exactly n digits at *p into *v, advancing *p. */
static bool args_digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

static int args_time_relative(const char *s, int64_t now_us, int64_t *out_us, const char **why)
{
    char *end;
    double v;
    double unit;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || !isfinite(v) || v < 0) {
        *why = "not a time (want 2026-12-01T10:00:00Z, @UNIXSECONDS or an age like 2h)";
        return -1;
    }
    if (strcmp(end, "s") == 0)
        unit = 1;
    else if (strcmp(end, "m") == 0)
        unit = 60;
    else if (strcmp(end, "h") == 0)
        unit = 3600;
    else if (strcmp(end, "d") == 0)
        unit = 86400;
    else {
        *why = "not a time (want 2026-12-01T10:00:00Z, @UNIXSECONDS or an age like 2h)";
        return -1;
    }
    if (v * unit > 1e5 * 86400) {
        *why = "age too large";
        return -1;
    }
    *out_us = now_us - (int64_t)(v * unit * 1e6 + 0.5);
    return 0;
}

int args_time(const char *s, int64_t now_us, int64_t *out_us, const char **why)
{
    const char *p = s;
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0, zh, zm, sign;
    int64_t frac_us = 0;
    int64_t t;

    if (s == NULL || s[0] == '\0') {
        *why = "empty time";
        return -1;
    }
    if (s[0] == '@') {
        long long v;
        char *end;
        errno = 0;
        v = strtoll(s + 1, &end, 10);
        if (errno != 0 || end == s + 1 || *end != '\0' || !isdigit((unsigned char)s[1]) ||
            v > 253402300799LL) {
            *why = "bad Unix time after @";
            return -1;
        }
        *out_us = (int64_t)v * 1000000;
        return 0;
    }
    if (!(isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
          isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3]) && s[4] == '-'))
        return args_time_relative(s, now_us, out_us, why);
    *why = "bad date or time (want YYYY-MM-DD[THH:MM[:SS[.frac]]][Z|+HH:MM])";
    if (!args_digits(&p, 4, &y) || *p++ != '-' || !args_digits(&p, 2, &mo) || *p++ != '-' ||
        !args_digits(&p, 2, &d))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!args_digits(&p, 2, &h) || *p++ != ':' || !args_digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (!args_digits(&p, 2, &sec))
                return -1;
            if (*p == '.') {
                int64_t scale = 100000;
                p++;
                if (!isdigit((unsigned char)*p))
                    return -1;
                for (; isdigit((unsigned char)*p); p++) {
                    frac_us += (*p - '0') * scale;
                    scale /= 10;
                }
            }
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = (int64_t)timegm(&tm);
    {
        struct tm back;
        time_t tt = (time_t)t;
        if (gmtime_r(&tt, &back) == NULL || back.tm_mday != d || back.tm_mon != mo - 1)
            return -1; /* 2026-02-30 */
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (!args_digits(&p, 2, &zh))
            return -1;
        if (*p == ':')
            p++;
        if (!args_digits(&p, 2, &zm) || zh > 23 || zm > 59)
            return -1;
        t -= sign * (zh * 3600 + zm * 60);
    }
    if (*p != '\0')
        return -1;
    *out_us = t * 1000000 + frac_us;
    return 0;
}

void args_time_format(int64_t us, char *out, size_t cap)
{
    time_t t = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    long frac = (long)(us - (int64_t)t * 1000000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

int args_glob_to_like(const char *pattern, char *out, size_t cap)
{
    size_t n = 0;

    for (const char *p = pattern; *p != '\0'; p++) {
        const char *put;
        char one[3] = {0};
        if (*p == '*') {
            put = "%";
        } else if (*p == '?') {
            put = "_";
        } else if (*p == '%' || *p == '_' || *p == '\\') {
            if (*p == '\\') {
                p++;
                if (*p == '\0')
                    return -1;
            }
            if (*p == '%' || *p == '_' || *p == '\\') {
                one[0] = '\\';
                one[1] = *p;
            } else {
                one[0] = *p;
            }
            put = one;
        } else {
            one[0] = *p;
            put = one;
        }
        for (; *put != '\0'; put++) {
            if (n + 1 >= cap)
                return -1;
            out[n++] = *put;
        }
    }
    if (n >= cap)
        return -1;
    out[n] = '\0';
    return 0;
}
