/*
 * json_scan: an explicit-stack JSON validator (see json_scan.h). Strings are skipped
 * with a byte-class table so plain ASCII costs one lookup per byte; UTF-8 is decoded
 * only where JSON_SCAN_TEXT asks for it. Keys are compared raw: an escaped key
 * ("ev\u0065nt") is a valid key but never one of the members picked out.
 */
#include "json_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* byte classes inside a string: 0 plain, 1 quote/backslash/control, 2 non-ASCII */
static const unsigned char json_scan_class[256] = {
    [0x00] = 1,           [0x01] = 1,           [0x02] = 1,
    [0x03] = 1,           [0x04] = 1,           [0x05] = 1,
    [0x06] = 1,           [0x07] = 1,           [0x08] = 1,
    [0x09] = 1,           [0x0a] = 1,           [0x0b] = 1,
    [0x0c] = 1,           [0x0d] = 1,           [0x0e] = 1,
    [0x0f] = 1,           [0x10] = 1,           [0x11] = 1,
    [0x12] = 1,           [0x13] = 1,           [0x14] = 1,
    [0x15] = 1,           [0x16] = 1,           [0x17] = 1,
    [0x18] = 1,           [0x19] = 1,           [0x1a] = 1,
    [0x1b] = 1,           [0x1c] = 1,           [0x1d] = 1,
    [0x1e] = 1,           [0x1f] = 1,           ['"'] = 1,
    ['\\'] = 1,
#define JSON_SCAN_HI16(b)                                                                          \
    [b] = 2, [b + 1] = 2, [b + 2] = 2, [b + 3] = 2, [b + 4] = 2, [b + 5] = 2, [b + 6] = 2,         \
    [b + 7] = 2, [b + 8] = 2, [b + 9] = 2, [b + 10] = 2, [b + 11] = 2, [b + 12] = 2, [b + 13] = 2, \
    [b + 14] = 2, [b + 15] = 2
    JSON_SCAN_HI16(0x80), JSON_SCAN_HI16(0x90), JSON_SCAN_HI16(0xa0),
    JSON_SCAN_HI16(0xb0), JSON_SCAN_HI16(0xc0), JSON_SCAN_HI16(0xd0),
    JSON_SCAN_HI16(0xe0), JSON_SCAN_HI16(0xf0),
#undef JSON_SCAN_HI16
};

/* what the member being read is, for the value that follows its key */
enum json_scan_key {
    KEY_OTHER,
    KEY_EVENT,      /* top-level "event" */
    KEY_EVENT_TS,   /* top-level "event_ts" */
    KEY_PAYLOAD,    /* top-level "payload" */
    KEY_ACCOUNT_ID, /* "payload"."account_id" */
    KEY_VOLATILE,   /* download_token / download_url / play_url, any depth */
};

struct json_scanner {
    const char *p;
    const char *end;
    int flags;
    const char *why;
    json_scan_emit_fn emit;
    void *emit_arg;
    const char *emit_from; /* start of the bytes not yet emitted */
};

static inline void json_scan_ws(struct json_scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int json_scan_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        int d = hex_value(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
static size_t json_scan_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* At an opening quote: skips the string; out gets its raw content. */
static int json_scan_string(struct json_scanner *s, struct json_scan_str *out)
{
    const char *p = s->p + 1;
    const bool text = (s->flags & JSON_SCAN_TEXT) != 0;

    out->p = p;
    out->escaped = false;
    for (;;) {
        while (p < s->end && json_scan_class[(unsigned char)*p] == 0)
            p++;
        if (p >= s->end)
            break;
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            out->len = (size_t)(p - out->p);
            s->p = p + 1;
            return 0;
        }
        if (c >= 0x80) {
            if (text) {
                size_t n = json_scan_utf8((const unsigned char *)p, (const unsigned char *)s->end);
                if (n == 0) {
                    s->why = "invalid UTF-8 in JSON string";
                    return -1;
                }
                p += n;
            } else {
                p++;
            }
            continue;
        }
        if (c < 0x20) {
            s->why = "control character in JSON string";
            return -1;
        }
        /* a backslash escape */
        out->escaped = true;
        if (p + 1 >= s->end)
            break;
        c = (unsigned char)p[1];
        if (c == 'u') {
            unsigned cp, lo;
            if (s->end - p < 6 || json_scan_hex4(p + 2, &cp) < 0) {
                s->why = "bad \\u escape in JSON string";
                return -1;
            }
            p += 6;
            if (!text)
                continue;
            if (cp == 0) {
                s->why = "\\u0000 in JSON string";
                return -1;
            }
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                s->why = "unpaired UTF-16 surrogate escape in JSON string";
                return -1;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (s->end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                    json_scan_hex4(p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
                    s->why = "unpaired UTF-16 surrogate escape in JSON string";
                    return -1;
                }
                p += 6;
            }
            continue;
        }
        if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' &&
            c != 't') {
            s->why = "bad escape in JSON string";
            return -1;
        }
        p += 2;
    }
    s->why = "unterminated JSON string";
    return -1;
}

/* Skips one or more digits at p; NULL when there is none. */
static const char *json_scan_digits(const char *p, const char *end)
{
    if (p >= end || *p < '0' || *p > '9')
        return NULL;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

static int json_scan_number(struct json_scanner *s)
{
    const char *p = s->p;

    if (p < s->end && *p == '-')
        p++;
    if (p < s->end && *p == '0') {
        p++;
    } else if ((p = json_scan_digits(p, s->end)) == NULL) {
        s->why = "bad JSON value";
        return -1;
    }
    if (p < s->end && *p == '.' && (p = json_scan_digits(p + 1, s->end)) == NULL) {
        s->why = "bad JSON number";
        return -1;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if ((p = json_scan_digits(p, s->end)) == NULL) {
            s->why = "bad JSON number";
            return -1;
        }
    }
    s->p = p;
    return 0;
}

static int json_scan_literal(struct json_scanner *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        s->why = "bad JSON value";
        return -1;
    }
    s->p += n;
    return 0;
}

static bool json_scan_key_is(const struct json_scan_str *k, const char *name, size_t n)
{
    return !k->escaped && k->len == n && memcmp(k->p, name, n) == 0;
}

static enum json_scan_key json_scan_classify_key(const struct json_scan_str *k, int depth,
                                                 bool in_payload)
{
    if (depth == 1) {
        if (json_scan_key_is(k, "event", 5))
            return KEY_EVENT;
        if (json_scan_key_is(k, "event_ts", 8))
            return KEY_EVENT_TS;
        if (json_scan_key_is(k, "payload", 7))
            return KEY_PAYLOAD;
    } else if (depth == 2 && in_payload && json_scan_key_is(k, "account_id", 10)) {
        return KEY_ACCOUNT_ID;
    }
    if (json_scan_key_is(k, "download_token", 14) || json_scan_key_is(k, "download_url", 12) ||
        json_scan_key_is(k, "play_url", 8))
        return KEY_VOLATILE;
    return KEY_OTHER;
}

int json_scan(const char *body, size_t len, const struct json_scan_opts *opts,
              struct json_scan_result *res, const char **why)
{
    struct json_scanner s = {body, body + len, 0, NULL, NULL, NULL, body};
    /* stack[d]: '{' or '[' of depth d+1; 'P' is the top-level "payload" object */
    char stack[JSON_SCAN_MAX_DEPTH];
    int depth = 0;
    enum json_scan_key key = KEY_OTHER; /* the member whose value comes next */

    memset(res, 0, sizeof(*res));
    if (opts != NULL) {
        s.flags = opts->flags;
        s.emit = opts->emit;
        s.emit_arg = opts->emit_arg;
    }
    json_scan_ws(&s);
    if (s.p >= s.end) {
        *why = "body is empty";
        return -1;
    }
    if (*s.p != '{') {
        /* say "not an object" only for what is at least the start of another JSON value */
        *why = strchr("[\"-0123456789tfn", *s.p) != NULL && *s.p != '\0'
                   ? "body is not a JSON object"
                   : "invalid JSON";
        return -1;
    }
    for (;;) {
        /* a value is expected here */
        json_scan_ws(&s);
        if (s.p >= s.end) {
            s.why = "truncated JSON";
            goto bad;
        }
        char c = *s.p;
        if (c == '{' || c == '[') {
            if (depth >= JSON_SCAN_MAX_DEPTH) {
                s.why = "JSON nested too deeply";
                goto bad;
            }
            if (key == KEY_EVENT)
                res->event.p = NULL; /* a later non-string "event" replaces an earlier one */
            else if (key == KEY_ACCOUNT_ID)
                res->account_id.p = NULL;
            else if (key == KEY_EVENT_TS)
                res->event_ts.p = NULL;
            stack[depth++] = c == '{' && key == KEY_PAYLOAD ? 'P' : c;
            key = KEY_OTHER;
            s.p++;
            json_scan_ws(&s);
            if (s.p < s.end && *s.p == (c == '{' ? '}' : ']')) {
                s.p++;
                depth--;
                goto after_value;
            }
            if (c == '[')
                continue;
            goto member;
        }
        if (c == '"') {
            struct json_scan_str str;
            const char *quote = s.p;
            if (json_scan_string(&s, &str) < 0)
                goto bad;
            if (key == KEY_EVENT) {
                res->event = str;
            } else if (key == KEY_ACCOUNT_ID) {
                res->account_id = str;
            } else if (key == KEY_EVENT_TS) {
                res->event_ts.p = NULL;
            } else if (key == KEY_VOLATILE && s.emit != NULL) {
                s.emit(s.emit_arg, s.emit_from, (size_t)(quote - s.emit_from));
                s.emit_from = s.p;
            }
        } else {
            const char *start = s.p;
            int rc;
            if (c == 't')
                rc = json_scan_literal(&s, "true", 4);
            else if (c == 'f')
                rc = json_scan_literal(&s, "false", 5);
            else if (c == 'n')
                rc = json_scan_literal(&s, "null", 4);
            else
                rc = json_scan_number(&s);
            if (rc < 0)
                goto bad;
            if (key == KEY_EVENT) {
                res->event.p = NULL;
            } else if (key == KEY_ACCOUNT_ID) {
                res->account_id.p = NULL;
            } else if (key == KEY_EVENT_TS) {
                bool number = c == '-' || (c >= '0' && c <= '9');
                res->event_ts.p = number ? start : NULL;
                res->event_ts.len = (size_t)(s.p - start);
            }
        }
        key = KEY_OTHER;
    after_value:
        /* after a value: a separator or a closer, perhaps several closers */
        for (;;) {
            json_scan_ws(&s);
            if (depth == 0)
                goto done;
            if (s.p >= s.end) {
                s.why = "truncated JSON";
                goto bad;
            }
            char open = stack[depth - 1];
            if (*s.p == ',') {
                s.p++;
                if (open == '[')
                    break; /* next array element */
                goto member;
            }
            if (*s.p == (open == '[' ? ']' : '}')) {
                s.p++;
                depth--;
                continue;
            }
            s.why = "expected , or a closing bracket in JSON";
            goto bad;
        }
        continue;
    member : {
        struct json_scan_str k;
        json_scan_ws(&s);
        if (s.p >= s.end || *s.p != '"') {
            s.why = "expected a JSON object key";
            goto bad;
        }
        if (json_scan_string(&s, &k) < 0)
            goto bad;
        json_scan_ws(&s);
        if (s.p >= s.end || *s.p != ':') {
            s.why = "expected : after a JSON object key";
            goto bad;
        }
        s.p++;
        key = json_scan_classify_key(&k, depth, stack[depth - 1] == 'P');
    }
    }
done:
    if (s.p != s.end) {
        *why = "trailing bytes after the JSON object";
        return -1;
    }
    if (s.emit != NULL)
        s.emit(s.emit_arg, s.emit_from, (size_t)(s.end - s.emit_from));
    return 0;
bad:
    *why = s.why != NULL ? s.why : "invalid JSON";
    return -1;
}

/* Appends code point cp as UTF-8 at out; returns the bytes written. */
static size_t json_scan_put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

char *json_scan_str_decode(const struct json_scan_str *s)
{
    /* decoding never lengthens: \uXXXX is at most 3 bytes, a 12-byte pair 4 */
    char *out = malloc(s->len + 1);
    const char *p = s->p, *end = s->p + s->len;
    size_t o = 0;

    if (out == NULL)
        return NULL;
    if (!s->escaped) {
        memcpy(out, s->p, s->len);
        out[s->len] = '\0';
        return out;
    }
    while (p < end) {
        unsigned cp, lo;
        if (*p != '\\') {
            out[o++] = *p++;
            continue;
        }
        if (end - p < 2)
            goto bad;
        switch (p[1]) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u':
            if (end - p < 6 || json_scan_hex4(p + 2, &cp) < 0 || cp == 0 ||
                (cp >= 0xdc00 && cp <= 0xdfff))
                goto bad;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || json_scan_hex4(p + 8, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    goto bad;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            o += json_scan_put_utf8(out + o, cp);
            p += 6;
            continue;
        default: /* '"', '\\', '/' */
            out[o++] = p[1];
            break;
        }
        p += 2;
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}
