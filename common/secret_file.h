/*
 * A secret kept in a file of its own (a source's KEY_file, hookpipe-ctl replay --secret-file):
 * read whole with read(2), so no stdio buffer keeps a copy, and every buffer that held the
 * bytes is wiped before it is given back. One reader, so both callers judge a file alike.
 */
#ifndef HOOKPIPE_SECRET_FILE_H
#define HOOKPIPE_SECRET_FILE_H

#include <stddef.h>

#define SECRET_FILE_MAX 4096 /* bytes a secret file may hold, line breaks included */

/*
 * Reads PATH: its content less trailing line breaks ("\n", "\r\n"). Returns a malloc'd
 * string (caller wipes it with explicit_bzero and frees it), or NULL with one reason in why
 * that names the file as what says (the path, or e.g. "--secret-file PATH"): "cannot read
 * WHAT: strerror", "WHAT is larger than 4096 bytes", "WHAT contains a NUL byte",
 * "WHAT is empty" or "out of memory".
 */
char *secret_file_read(const char *path, const char *what, char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
