/*
 * Admin HTTP endpoint for both daemons. Rendering happens on the loop thread that
 * owns the admin server; metrics are atomics, so no locking is needed.
 */
#include "ev_admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostport.h"
#include "log.h"

struct admin_server {
    struct evhttp *http;
    admin_render_fn render;
    void *arg;
};

int admin_listen_socket(const char *hostport, int backlog, int reuseport, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char host[256], portstr[16];
    int port, fd = -1, one = 1, rc;

    const char *why;

    if (hostport_split(hostport, strlen(hostport), host, sizeof(host), &port, -1, &why) < 0) {
        snprintf(err, errlen, "bad address %s: %s", hostport, why);
        return -1;
    }
    snprintf(portstr, sizeof(portstr), "%d", port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", hostport, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, backlog) < 0)
        goto fail;
    freeaddrinfo(res);
    return fd;
fail:
    snprintf(err, errlen, "cannot listen on %s: %s", hostport, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return -1;
}

int admin_socket_address(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    const void *ip;
    unsigned port;
    int n;

    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
        snprintf(buf, len, "getsockname: %s", strerror(errno));
        return -1;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        ip = &sin->sin_addr;
        port = ntohs(sin->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
        ip = &sin6->sin6_addr;
        port = ntohs(sin6->sin6_port);
    } else {
        snprintf(buf, len, "address family %d", (int)ss.ss_family);
        return -1;
    }
    if (inet_ntop(ss.ss_family, ip, host, sizeof(host)) == NULL) {
        snprintf(buf, len, "inet_ntop: %s", strerror(errno));
        return -1;
    }
    n = snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static void admin_request_cb(struct evhttp_request *req, void *arg)
{
    struct admin_server *admin = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evbuffer *body = evbuffer_new();

    if (body == NULL) {
        evhttp_send_error(req, 503, "Service Unavailable");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_add_header(out, "Allow", "GET");
        evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
    } else if (path != NULL && strcmp(path, "/metrics") == 0) {
        struct strbuf sb = {0};
        admin->render(&sb, admin->arg);
        if (sb.failed) {
            evhttp_send_reply(req, 503, "Service Unavailable", NULL);
        } else {
            evbuffer_add(body, sb.data, sb.len);
            evhttp_add_header(out, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            evhttp_send_reply(req, 200, "OK", body);
        }
        strbuf_free(&sb);
    } else if (path != NULL && strcmp(path, "/healthz") == 0) {
        evbuffer_add_printf(body, "{\"status\":\"ok\"}\n");
        evhttp_add_header(out, "Content-Type", "application/json");
        evhttp_send_reply(req, 200, "OK", body);
    } else {
        evbuffer_add_printf(body, "{\"error\":\"not found\"}\n");
        evhttp_add_header(out, "Content-Type", "application/json");
        evhttp_send_reply(req, 404, "Not Found", body);
    }
    evbuffer_free(body);
}

struct admin_server *admin_server_start(struct event_base *base, const char *hostport,
                                        admin_render_fn render, void *arg, char *err, size_t errlen)
{
    struct admin_server *admin = calloc(1, sizeof(*admin));
    char bound[ADMIN_ADDR_LEN];
    int fd = -1;

    if (admin == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    admin->render = render;
    admin->arg = arg;
    admin->http = evhttp_new(base);
    if (admin->http == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    fd = admin_listen_socket(hostport, 64, 0, err, errlen);
    if (fd < 0)
        goto fail;
    if (admin_socket_address(fd, bound, sizeof(bound)) < 0) {
        snprintf(err, errlen, "cannot read the address bound for %s: %s", hostport, bound);
        close(fd);
        goto fail;
    }
    if (evhttp_accept_socket_with_handle(admin->http, fd) == NULL) {
        snprintf(err, errlen, "cannot accept on %s", hostport);
        close(fd);
        goto fail;
    }
    evhttp_set_timeout(admin->http, 10);
    evhttp_set_max_body_size(admin->http, 4096);
    evhttp_set_max_headers_size(admin->http, 16384);
    evhttp_set_allowed_methods(admin->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(admin->http, admin_request_cb, admin);
    log_msg(LOG_INFO, "listening", "what=admin addr=%s", bound);
    return admin;
fail:
    admin_server_free(admin);
    return NULL;
}

void admin_server_free(struct admin_server *admin)
{
    if (admin == NULL)
        return;
    if (admin->http != NULL)
        evhttp_free(admin->http);
    free(admin);
}
