/*
 * Unit tests for common/log.c: every line is logfmt that parses — the message and
 * log_value() values are quoted and escaped, whatever bytes they hold.
 */
#include "check.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs log_msg with stderr redirected to a file; returns the line written (static). */
static const char *capture(enum log_level lv, const char *msg, const char *key, const char *val)
{
    static char line[8192];
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n;

    line[0] = '\0';
    if (tmp == NULL || saved < 0)
        return line;
    dup2(fileno(tmp), STDERR_FILENO);
    log_msg(lv, msg, "%s=%s n=%d", key, log_value(val), 7);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(line, 1, sizeof(line) - 1, tmp);
    line[n] = '\0';
    fclose(tmp);
    return line;
}

int main(void)
{
    const char *l;
    char longv[2000];

    log_init("test", LOG_DEBUG);
    CHECK_STR_EQ(log_value("plain"), "\"plain\"");
    CHECK_STR_EQ(log_value("body has no string \"event\""), "\"body has no string \\\"event\\\"\"");
    CHECK_STR_EQ(log_value("a\\b\nc\r\td\x01\x7f"), "\"a\\\\b\\nc\\r\\td\\u0001\\u007f\"");
    CHECK_STR_EQ(log_value(NULL), "\"\"");
    CHECK_STR_EQ(log_valuen("abcdef", 3), "\"abc\"");
    CHECK_STR_EQ(log_value("utf-8 caf\xc3\xa9"), "\"utf-8 caf\xc3\xa9\"");
    {
        /* LOG_VALUE_SLOTS results may be used in one call */
        const char *a = log_value("one"), *b = log_value("two");
        CHECK_STR_EQ(a, "\"one\"");
        CHECK_STR_EQ(b, "\"two\"");
    }
    memset(longv, '"', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    l = log_value(longv); /* cut, but still one closed quoted value */
    CHECK(strlen(l) <= 2 * LOG_VALUE_MAX + 2 && l[strlen(l) - 1] == '"' && l[strlen(l) - 2] == '"');
    CHECK(l[strlen(l) - 3] == '\\');

    l = capture(LOG_WARN, "dead \"letter\" stored", "reason", "body has no string \"event\"");
    CHECK_CONTAINS(l, " level=warn comp=test msg=\"dead \\\"letter\\\" stored\" ");
    CHECK_CONTAINS(l, " reason=\"body has no string \\\"event\\\"\" n=7\n");
    CHECK(strchr(l, '\n') == l + strlen(l) - 1); /* one line, even for values with newlines */
    l = capture(LOG_ERROR, "x", "error", "line1\nline2");
    CHECK_CONTAINS(l, "error=\"line1\\nline2\" n=7\n");
    CHECK(strchr(l, '\n') == l + strlen(l) - 1);
    l = capture(LOG_DEBUG, "m", "k", longv);
    CHECK(strchr(l, '\n') == l + strlen(l) - 1);
    CHECK_CONTAINS(l, "\" n=7\n");
    log_set_level(LOG_ERROR);
    l = capture(LOG_WARN, "hidden", "k", "v");
    CHECK_STR_EQ(l, "");
    return check_summary("test_log");
}
