/*
 * Reads a secret file (secret_file.h). read(2) into one stack buffer, copied out once
 * its length is known; that buffer is wiped on every path, success or not.
 */
#include "secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads up to cap bytes of fd into buf; the count, or -1 with errno set. */
static long secret_file_fill(int fd, char *buf, size_t cap)
{
    size_t n = 0;

    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    return (long)n;
}

char *secret_file_read(const char *path, const char *what, char *why, size_t whylen)
{
    char buf[SECRET_FILE_MAX + 1]; /* one byte more than allowed: tells "too large" */
    char *secret = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long n = fd < 0 ? -1 : secret_file_fill(fd, buf, sizeof(buf));
    int err = errno;

    if (fd >= 0)
        close(fd);
    if (n < 0) {
        snprintf(why, whylen, "cannot read %s: %s", what, strerror(err));
        goto done;
    }
    if ((size_t)n == sizeof(buf)) {
        snprintf(why, whylen, "%s is larger than %d bytes", what, SECRET_FILE_MAX);
        goto done;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (memchr(buf, '\0', (size_t)n) != NULL) {
        snprintf(why, whylen, "%s contains a NUL byte", what);
        goto done;
    }
    if (n == 0) {
        snprintf(why, whylen, "%s is empty", what);
        goto done;
    }
    secret = malloc((size_t)n + 1);
    if (secret == NULL) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    memcpy(secret, buf, (size_t)n);
    secret[n] = '\0';
done:
    explicit_bzero(buf, sizeof(buf));
    return secret;
}
