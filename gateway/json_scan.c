/*
 * Structural JSON validation with an explicit depth limit (no recursion), so hostile
 * nesting cannot exhaust the stack. Only the top-level "event" member is extracted.
 */
#include "json_scan.h"

#include <stdint.h>
#include <string.h>

/* 1 for bytes that end the fast path inside a string: '"', '\\' and control bytes */
static const unsigned char json_string_stop[256] = {
    [0] = 1,  [1] = 1,  [2] = 1,  [3] = 1,  [4] = 1,  [5] = 1,   [6] = 1,    [7] = 1,  [8] = 1,
    [9] = 1,  [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1,  [15] = 1,   [16] = 1, [17] = 1,
    [18] = 1, [19] = 1, [20] = 1, [21] = 1, [22] = 1, [23] = 1,  [24] = 1,   [25] = 1, [26] = 1,
    [27] = 1, [28] = 1, [29] = 1, [30] = 1, [31] = 1, ['"'] = 1, ['\\'] = 1,
};

struct json_scanner {
    const char *p;
    const char *end;
    const char *why;
};

static inline void json_ws(struct json_scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int json_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* At an opening quote: skips the string; start/len get its raw content. */
static int json_string(struct json_scanner *s, const char **start, size_t *len, bool *escapes)
{
    const char *p = s->p + 1;

    *escapes = false;
    *start = p;
    while (p < s->end) {
        unsigned char c = (unsigned char)*p;
        if (!json_string_stop[c]) {
            p++;
            continue;
        }
        if (c == '"') {
            *len = (size_t)(p - *start);
            s->p = p + 1;
            return 0;
        }
        if (c < 0x20) {
            s->why = "control character in JSON string";
            return -1;
        }
        if (c == '\\') {
            *escapes = true;
            if (p + 1 >= s->end)
                break;
            c = (unsigned char)p[1];
            if (c == 'u') {
                if (p + 6 > s->end || !json_hex(p[2]) || !json_hex(p[3]) || !json_hex(p[4]) ||
                    !json_hex(p[5])) {
                    s->why = "bad \\u escape in JSON string";
                    return -1;
                }
                p += 6;
                continue;
            }
            if (strchr("\"\\/bfnrt", c) == NULL || c == 0) {
                s->why = "bad escape in JSON string";
                return -1;
            }
            p += 2;
            continue;
        }
        p++;
    }
    s->why = "unterminated JSON string";
    return -1;
}

static int json_number(struct json_scanner *s)
{
    const char *p = s->p;

    if (p < s->end && *p == '-')
        p++;
    if (p < s->end && *p == '0') {
        p++;
    } else if (p < s->end && *p >= '1' && *p <= '9') {
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    } else {
        s->why = "bad JSON value";
        return -1;
    }
    if (p < s->end && *p == '.') {
        p++;
        if (p >= s->end || *p < '0' || *p > '9') {
            s->why = "bad JSON number";
            return -1;
        }
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= s->end || *p < '0' || *p > '9') {
            s->why = "bad JSON number";
            return -1;
        }
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    return 0;
}

static int json_literal(struct json_scanner *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        s->why = "bad JSON value";
        return -1;
    }
    s->p += n;
    return 0;
}

int json_scan_event(const char *body, size_t len, struct json_event *ev, const char **why)
{
    struct json_scanner s = {body, body + len, NULL};
    /* stack[d] is '{' or '['; expect_key tells whether an object wants a key next */
    char stack[JSON_SCAN_MAX_DEPTH];
    int depth = 0;
    bool found = false;
    bool want_value = true; /* a value is expected (not a separator or closer) */
    bool key_is_event = false;

    ev->p = NULL;
    ev->len = 0;
    ev->has_escapes = false;
    json_ws(&s);
    if (s.p >= s.end || *s.p != '{') {
        *why = "body is not a JSON object";
        return -1;
    }
    for (;;) {
        json_ws(&s);
        if (s.p >= s.end) {
            s.why = "truncated JSON";
            goto bad;
        }
        if (want_value) {
            const char *str;
            size_t slen;
            bool esc;
            char c = *s.p;
            if (c == '{' || c == '[') {
                if (key_is_event && depth == 1) {
                    found = false; /* a later non-string "event" replaces an earlier one */
                    ev->p = NULL;
                }
                if (depth >= JSON_SCAN_MAX_DEPTH) {
                    s.why = "JSON nested too deeply";
                    goto bad;
                }
                stack[depth++] = c;
                s.p++;
                json_ws(&s);
                if (s.p < s.end && *s.p == (c == '{' ? '}' : ']')) {
                    s.p++;
                    depth--;
                    want_value = false;
                    key_is_event = false;
                    if (depth == 0)
                        break;
                    continue;
                }
                if (c == '{')
                    goto key;
                continue;
            }
            if (c == '"') {
                if (json_string(&s, &str, &slen, &esc) < 0)
                    goto bad;
                if (key_is_event && depth == 1) {
                    ev->p = str;
                    ev->len = slen;
                    ev->has_escapes = esc;
                    found = true;
                }
            } else if (c == 't') {
                if (json_literal(&s, "true") < 0)
                    goto bad;
            } else if (c == 'f') {
                if (json_literal(&s, "false") < 0)
                    goto bad;
            } else if (c == 'n') {
                if (json_literal(&s, "null") < 0)
                    goto bad;
            } else if (json_number(&s) < 0) {
                goto bad;
            }
            if (key_is_event && depth == 1 && c != '"') {
                found = false; /* a later non-string "event" replaces an earlier string */
                ev->p = NULL;
            }
            key_is_event = false;
            want_value = false;
            continue;
        }
        /* after a value: a separator or a closer */
        if (*s.p == ',') {
            s.p++;
            want_value = true;
            if (stack[depth - 1] == '{')
                goto key;
            continue;
        }
        if (*s.p == (stack[depth - 1] == '{' ? '}' : ']')) {
            s.p++;
            if (--depth == 0)
                break;
            continue;
        }
        s.why = "expected , or a closing bracket in JSON";
        goto bad;
    key : {
        const char *str;
        size_t slen;
        bool esc;
        json_ws(&s);
        if (s.p >= s.end || *s.p != '"') {
            s.why = "expected a JSON object key";
            goto bad;
        }
        if (json_string(&s, &str, &slen, &esc) < 0)
            goto bad;
        json_ws(&s);
        if (s.p >= s.end || *s.p != ':') {
            s.why = "expected : after a JSON object key";
            goto bad;
        }
        s.p++;
        key_is_event = depth == 1 && !esc && slen == 5 && memcmp(str, "event", 5) == 0;
        want_value = true;
    }
    }
    json_ws(&s);
    if (s.p != s.end) {
        s.why = "trailing bytes after the JSON object";
        goto bad;
    }
    if (!found) {
        *why = "JSON object has no string \"event\"";
        return -1;
    }
    return 0;
bad:
    *why = s.why ? s.why : "invalid JSON";
    return -1;
}
