/*
 * The gateway's HTTP answers as bytes: status line and reason, the fixed headers, and
 * the small JSON bodies ({"error":…}, {"status":"queued",…}). Pure formatting, no I/O;
 * unit-tested in tests/unit/test_response.c.
 */
#ifndef HOOKPIPE_RESPONSE_H
#define HOOKPIPE_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#define RESPONSE_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"
#define RESPONSE_ERROR_MAX 256  /* an error body, NUL included */
#define RESPONSE_QUEUED_MAX 128 /* a queued body, NUL included */

/* The reason phrase of status ("Error" for a status the gateway does not send). */
const char *response_reason(int status);

/*
 * Writes the head of an answer with a JSON body of body_len bytes into buf[0..cap):
 * status line, Content-Type, Content-Length, the extra header lines (each ending in
 * CRLF; NULL for none), Connection: close when close_after is set, and the empty line.
 * Returns its length, or -1 when it does not fit.
 */
int response_head(char *buf, size_t cap, int status, const char *extra, size_t body_len,
                  bool close_after) __attribute__((warn_unused_result));

/*
 * {"error":"msg"} with '"' and '\' escaped, cut short to fit RESPONSE_ERROR_MAX. Writes
 * it with a NUL into out and returns its length.
 */
size_t response_error_body(char out[RESPONSE_ERROR_MAX], const char *msg);

/* {"status":"queued","id":"<id>"} into out (NUL-terminated); returns its length. */
size_t response_queued_body(char out[RESPONSE_QUEUED_MAX], const char *id);

#endif
