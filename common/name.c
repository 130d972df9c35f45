/*
 * The name rule (see name.h), in one place for the config, the envelope and the writer.
 */
#include "name.h"

bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

size_t name_span(const char *s, size_t len)
{
    size_t n = 0;

    while (n < len && name_char((unsigned char)s[n]))
        n++;
    return n;
}

bool name_valid(const char *s, size_t len)
{
    return len > 0 && len <= NAME_MAX_LEN && name_span(s, len) == len;
}
