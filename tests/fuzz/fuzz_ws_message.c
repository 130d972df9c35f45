/*
 * libFuzzer target for what a Zoom WebSocket subscription reads: the bytes go through a wslay
 * client context set up as gateway/ws_conn.c sets it (no buffering; messages assembled from
 * frame chunks, capped), and each whole message through ws_message_parse, as do the raw
 * bytes themselves. Besides memory safety: an event's body is never longer than max_body,
 * and it holds a JSON object (jansson agrees).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "ws_message.h"

#define FUZZ_MAX_BODY 512
#define FUZZ_MAX_MESSAGE 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_feed {
    const uint8_t *data;
    size_t size, off;
    char msg[FUZZ_MAX_MESSAGE];
    size_t len;
    bool too_large, data_frame;
};

static void fuzz_parse(const char *msg, size_t len)
{
    struct ws_message m;

    if (ws_message_parse(msg, len, FUZZ_MAX_BODY, &m) < 0)
        return;
    if (m.kind == WS_MESSAGE_EVENT) {
        json_t *v = json_loadb(m.body, m.body_len, 0, NULL);
        if (m.body_len > FUZZ_MAX_BODY || m.body[m.body_len] != '\0')
            __builtin_trap();
        if (v != NULL && !json_is_object(v)) /* jansson may refuse what json_scan takes (NUL) */
            __builtin_trap();
        json_decref(v);
        free(m.body);
    }
}

static ssize_t fuzz_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                         void *user)
{
    struct fuzz_feed *f = user;
    size_t n = f->size - f->off;

    (void)flags;
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n > len)
        n = len;
    if (n > 7) /* short reads, as a socket gives them */
        n = 1 + f->data[f->off] % n;
    memcpy(buf, f->data + f->off, n);
    f->off += n;
    return (ssize_t)n;
}

static ssize_t fuzz_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                         void *user)
{
    (void)ctx;
    (void)data;
    (void)flags;
    (void)user;
    return (ssize_t)len;
}

static int fuzz_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    memset(buf, 0x5a, len);
    return 0;
}

static void fuzz_start(wslay_event_context_ptr ctx,
                       const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    struct fuzz_feed *f = user;

    (void)ctx;
    f->data_frame = (arg->opcode & 0x08) == 0;
    if (f->data_frame && arg->opcode != WSLAY_CONTINUATION_FRAME) {
        f->len = 0;
        f->too_large = false;
    }
}

static void fuzz_chunk(wslay_event_context_ptr ctx,
                       const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
    struct fuzz_feed *f = user;

    (void)ctx;
    if (!f->data_frame || f->too_large)
        return;
    if (f->len + arg->data_length > sizeof(f->msg)) {
        f->too_large = true;
        return;
    }
    memcpy(f->msg + f->len, arg->data, arg->data_length);
    f->len += arg->data_length;
}

static void fuzz_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                     void *user)
{
    struct fuzz_feed *f = user;

    (void)ctx;
    if ((arg->opcode & 0x08) == 0 && !f->too_large)
        fuzz_parse(f->msg, f->len);
    f->len = 0;
    f->too_large = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct wslay_event_callbacks cbs = {
        .recv_callback = fuzz_recv,
        .send_callback = fuzz_send,
        .genmask_callback = fuzz_genmask,
        .on_frame_recv_start_callback = fuzz_start,
        .on_frame_recv_chunk_callback = fuzz_chunk,
        .on_msg_recv_callback = fuzz_msg,
    };
    struct fuzz_feed *f = calloc(1, sizeof(*f));
    wslay_event_context_ptr ctx;

    if (f == NULL)
        return 0;
    fuzz_parse((const char *)data, size);
    f->data = data;
    f->size = size;
    if (wslay_event_context_client_init(&ctx, &cbs, f) == 0) {
        wslay_event_config_set_no_buffering(ctx, 1);
        wslay_event_config_set_max_recv_msg_length(ctx, UINT64_MAX >> 1);
        while (f->off < f->size && wslay_event_want_read(ctx) && wslay_event_recv(ctx) == 0)
            (void)wslay_event_send(ctx);
        wslay_event_context_free(ctx);
    }
    free(f);
    return 0;
}
