/*
 * The queue envelope: what the gateway LPUSHes and writers decode. Version 1 is one
 * ASCII header line followed by the raw body bytes, unchanged:
 *
 *   "HP1 " source " " received_us " " delivery_id " " request_id " " body_len "\n" body
 *
 * source is the [source.NAME] (A-Z a-z 0-9 _ -), received_us the receive time in
 * microseconds since the epoch, delivery_id the gateway's id for this delivery (the
 * "id" of its 200 answer; A-Z a-z 0-9 _ -, at most 64), request_id the x-zm-request-id (else
 * x-zm-trackingid) header percent-encoded (bytes outside '!'..'~' and '%' become %XX), or "-" when
 * absent, and body_len the decimal byte length of body. Decoders must reject any
 * other version. See docs/envelope.md.
 */
#ifndef HOOKPIPE_ENVELOPE_H
#define HOOKPIPE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_REQUEST_ID_MAX 256 /* longer request ids are truncated (decoded bytes) */
#define ENVELOPE_ID_MAX 64
#define ENVELOPE_HEADER_MAX                                                                        \
    (4 + 64 + 1 + 20 + 1 + ENVELOPE_ID_MAX + 1 + 3 * ENVELOPE_REQUEST_ID_MAX + 1 + 20 + 2)

#define ENVELOPE_PROVIDER_MAX 16     /* a provider name: [a-z]{1,16} */
#define ENVELOPE_FIELDS_N_MAX 8      /* header fields an HP2 envelope carries */
#define ENVELOPE_FIELD_NAME_MAX 40   /* a field's name: [a-z0-9-]{1,40} */
#define ENVELOPE_FIELD_VALUE_MAX 200 /* a field's value, bytes (longer headers are not kept) */
#define ENVELOPE_FIELDS_MAX                                                                        \
    (ENVELOPE_FIELDS_N_MAX * (ENVELOPE_FIELD_NAME_MAX + 2 + 3 * ENVELOPE_FIELD_VALUE_MAX))
#define ENVELOPE_V2_HEADER_MAX                                                                     \
    (ENVELOPE_HEADER_MAX + 2 + ENVELOPE_PROVIDER_MAX + ENVELOPE_FIELDS_MAX)

struct envelope {
    int version;                                  /* 1 (HP1) or 2 (HP2) */
    char provider[ENVELOPE_PROVIDER_MAX + 1];     /* HP2's provider; "zoom" for HP1 */
    const char *fields;                           /* HP2's encoded header fields, "" if none */
    size_t fields_len;                            /* (points into the decoded buffer) */
    char source[65];                              /* NUL-terminated source name */
    int64_t received_us;                          /* receive time, µs since epoch */
    char delivery_id[ENVELOPE_ID_MAX + 1];        /* gateway's delivery id */
    char request_id[ENVELOPE_REQUEST_ID_MAX + 1]; /* decoded request id, "" when absent */
    size_t request_id_len;                        /* its length (it may hold any byte) */
    const char *body;                             /* points into the decoded buffer */
    size_t body_len;                              /* body length */
};

/*
 * Writes the header line for (source, received_us, delivery_id, request_id, body_len)
 * into out (at least ENVELOPE_HEADER_MAX bytes) and returns its length, or -1 when
 * source or delivery_id is not a valid name. The body follows the header unchanged. request_id may
 * be NULL.
 */
int envelope_encode_header(char *out, const char *source, int64_t received_us,
                           const char *delivery_id, const char *request_id, size_t request_id_len,
                           size_t body_len) __attribute__((warn_unused_result));

/* One header a provider's delivery carries to the writer (HP2). */
struct envelope_field {
    const char *name; /* lower case, [a-z0-9-]{1,40} */
    const char *value;
    size_t value_len; /* 1..ENVELOPE_FIELD_VALUE_MAX; an empty field is left out */
};

/*
 * Version 2, for the providers beside Zoom (Zoom's deliveries stay HP1):
 *
 *   "HP2 " source " " received_us " " delivery_id " " request_id " " provider " " fields " "
 *   body_len "\n" body
 *
 * provider is [a-z]{1,16}; fields is "-" or "name=value" pairs joined by '&', each value
 * percent-encoded (bytes outside '!'..'~', '%' and '&' become %XX). Writes the header line
 * into out (at least ENVELOPE_V2_HEADER_MAX bytes); -1 when a name or a field is out of form.
 */
int envelope_encode_header_v2(char *out, const char *source, int64_t received_us,
                              const char *delivery_id, const char *request_id,
                              size_t request_id_len, const char *provider,
                              const struct envelope_field *fields, size_t nfields, size_t body_len)
    __attribute__((warn_unused_result));

/*
 * The decoded value of HP2 field name of env into out (cap bytes, NUL-terminated; a value
 * is at most ENVELOPE_FIELD_VALUE_MAX bytes). Its length, or -1 when env has no such field.
 */
long envelope_field(const struct envelope *env, const char *name, char *out, size_t cap);

/*
 * Parses buf (an envelope as stored in Redis) into env; env->body points into buf.
 * Returns 0, or -1 with a static reason in *why when buf is not a valid v1 or v2 envelope.
 */
int envelope_decode(const char *buf, size_t len, struct envelope *env, const char **why)
    __attribute__((warn_unused_result));

#endif
