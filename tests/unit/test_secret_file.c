/*
 * Unit tests for common/secret_file.c: what is kept of a file (trailing line breaks go,
 * inner ones stay), the size limit at exactly 4096 bytes, and each refusal's message naming
 * the file as the caller asked.
 */
#include "check.h"
#include "secret_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* Writes n bytes of data to tmpdir/name; returns its path (static buffer). */
static const char *write_bytes(const char *name, const char *data, size_t n)
{
    static char path[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    fp = fopen(path, "wb");
    if (fp == NULL || fwrite(data, 1, n, fp) != n || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
    return path;
}

/* Reads data back as a secret file; expects want, or (want NULL) a refusal containing why. */
static void check_read(const char *data, size_t n, const char *want, const char *why)
{
    const char *path = write_bytes("s", data, n);
    char err[256] = "";
    char *got = secret_file_read(path, "the file", err, sizeof(err));

    if (want != NULL) {
        CHECKF(got != NULL && strcmp(got, want) == 0, "want \"%s\", got \"%s\" (%s)", want,
               got != NULL ? got : "(null)", err);
    } else {
        CHECKF(got == NULL, "accepted as \"%s\", want a refusal with \"%s\"", got, why);
        CHECKF(strstr(err, why) != NULL, "\"%s\" does not contain \"%s\"", err, why);
    }
    if (got != NULL)
        explicit_bzero(got, strlen(got));
    free(got);
}

int main(void)
{
    static char big[SECRET_FILE_MAX + 2];
    char err[512];
    char cmd[300];

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hp-secret-file-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    check_read("s3cret", 6, "s3cret", NULL);
    check_read("s3cret\n", 7, "s3cret", NULL);
    check_read("s3cret\r\n", 8, "s3cret", NULL);
    check_read("s3cret\n\n", 8, "s3cret", NULL);
    check_read("a b\nc\n", 6, "a b\nc", NULL);
    check_read("", 0, NULL, "the file is empty");
    check_read("\n", 1, NULL, "the file is empty");
    check_read("ab\0cd", 5, NULL, "the file contains a NUL byte");
    memset(big, 'x', SECRET_FILE_MAX + 1); /* big[SECRET_FILE_MAX + 1] stays NUL */
    check_read(big, SECRET_FILE_MAX + 1, NULL, "the file is larger than 4096 bytes");
    big[SECRET_FILE_MAX] = '\0';
    check_read(big, SECRET_FILE_MAX, big, NULL);
    CHECK(secret_file_read("/nonexistent/hp-secret", "--secret-file /nonexistent/hp-secret", err,
                           sizeof(err)) == NULL);
    CHECK_STR_EQ(err,
                 "cannot read --secret-file /nonexistent/hp-secret: No such file or directory");
    CHECK(secret_file_read(tmpdir, tmpdir, err, sizeof(err)) == NULL); /* a directory */
    CHECK(strstr(err, "cannot read") == err);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary("test_secret_file");
}
