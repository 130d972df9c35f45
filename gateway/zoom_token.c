/*
 * Zoom's token request body and answer (see zoom_token.h). The answer is parsed with
 * jansson; what goes into why is built only from Zoom's "error" and "reason" members,
 * sanitised, so a log line made from it stays one printable line and never holds the token.
 */
#include "zoom_token.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

int zoom_token_form(const char *grant, const char *account_id, char *out, size_t cap)
{
    static const char acct[] = "grant_type=account_credentials&account_id=";
    static const char client[] = "grant_type=client_credentials";
    size_t n = 0;

    if (grant != NULL && strcmp(grant, "client_credentials") == 0) {
        if (cap < sizeof(client))
            return -1;
        memcpy(out, client, sizeof(client));
        return 0;
    }
    if (grant == NULL || strcmp(grant, "account_credentials") != 0 || account_id == NULL ||
        account_id[0] == '\0' || cap < sizeof(acct))
        return -1;
    memcpy(out, acct, sizeof(acct) - 1);
    n = sizeof(acct) - 1;
    for (const unsigned char *p = (const unsigned char *)account_id; *p != '\0'; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';

        if (cap - n < (plain ? 1u : 3u) + 1)
            return -1;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex_upper_digit(*p >> 4);
            out[n++] = hex_upper_digit(*p);
        }
    }
    out[n] = '\0';
    return 0;
}

struct zoom_why { /* a line built in the caller's buffer, cut when full */
    char *buf;
    size_t cap;
    size_t len;
};

static void zoom_why_add(struct zoom_why *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void zoom_why_add(struct zoom_why *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (w->cap == 0 || w->len >= w->cap - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        w->buf[w->len] = '\0';
    else
        w->len = (size_t)n < w->cap - w->len ? w->len + (size_t)n : w->cap - 1;
}

static bool zoom_plain_byte(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '/' || c == '-';
}

/*
 * Appends " key=value" for a string member of Zoom's answer (nothing for another type):
 * cut, quoted when not plain, unprintable bytes as '?', and (redacted) when it holds the
 * token.
 */
static void zoom_why_member(struct zoom_why *w, const char *key, const json_t *v, const char *tok,
                            size_t toklen)
{
    char val[ZOOM_TOKEN_WHY_VALUE_MAX + 1];
    const char *s;
    size_t n;
    bool plain = true;

    if (!json_is_string(v))
        return;
    s = json_string_value(v);
    n = json_string_length(v);
    if (tok != NULL && toklen > 0 && memmem(s, n, tok, toklen) != NULL) {
        zoom_why_add(w, " %s=(redacted)", key);
        return;
    }
    if (n > ZOOM_TOKEN_WHY_VALUE_MAX)
        n = ZOOM_TOKEN_WHY_VALUE_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!zoom_plain_byte(c))
            plain = false;
        val[i] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : (char)c;
    }
    val[n] = '\0';
    if (plain && n > 0)
        zoom_why_add(w, " %s=%s", key, val);
    else
        zoom_why_add(w, " %s=\"%s\"", key, val);
}

static bool zoom_token_printable(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    }
    return true;
}

int zoom_token_parse(long status, const char *body, size_t len, char **token, long *expires_in_s,
                     char *why, size_t whylen)
{
    struct zoom_why w = {.buf = why, .cap = whylen, .len = 0};
    const char *problem = NULL;
    const char *tok = NULL;
    size_t toklen = 0;
    json_error_t jerr;
    json_t *root = NULL, *at, *ei;
    json_int_t expires = 0;
    int ret = -1;

    *token = NULL;
    *expires_in_s = 0;
    if (whylen > 0)
        why[0] = '\0';
    zoom_why_add(&w, "status=%ld", status);
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        problem = root == NULL ? "answer is not JSON" : "answer is not a JSON object";
        goto done;
    }
    at = json_object_get(root, "access_token");
    if (json_is_string(at)) {
        tok = json_string_value(at);
        toklen = json_string_length(at);
    }
    zoom_why_member(&w, "error", json_object_get(root, "error"), tok, toklen);
    zoom_why_member(&w, "reason", json_object_get(root, "reason"), tok, toklen);
    if (status != 200)
        goto done;
    ei = json_object_get(root, "expires_in");
    if (tok == NULL) {
        problem = "no access_token string in the answer";
    } else if (!zoom_token_printable(tok, toklen)) {
        problem = "access_token is empty or not printable ASCII";
    } else if (!json_is_integer(ei) || (expires = json_integer_value(ei)) <= 0) {
        problem = "expires_in is not a positive integer";
    } else if ((*token = strndup(tok, toklen)) == NULL) {
        problem = "out of memory";
    } else {
        *expires_in_s = expires < ZOOM_TOKEN_EXPIRES_MAX ? (long)expires : ZOOM_TOKEN_EXPIRES_MAX;
        ret = 0;
    }
done:
    if (problem != NULL)
        zoom_why_add(&w, " problem=\"%s\"", problem);
    if (ret == 0 && whylen > 0)
        why[0] = '\0';
    /* jansson frees its copy without wiping it; the string is ours to scrub before the decref */
    if (tok != NULL)
        explicit_bzero((char *)tok, toklen);
    json_decref(root);
    return ret;
}
