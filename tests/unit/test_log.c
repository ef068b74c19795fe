/* The one message path (prepix/log.h): each message one line with its
 * prefix, dropped above the threshold, cut (never split) when too long. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "prepix/log.h"

/* What fn wrote on stderr, into out (cap bytes). */
static void captured(void (*fn)(void), char *out, size_t cap)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *f = tmpfile();
    if (saved < 0 || !f)
        exit(1);
    dup2(fileno(f), STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void all_levels(void)
{
    ppx_log(PPX_LOG_ERR, "e %d", 1);
    ppx_log(PPX_LOG_WARN, "w %s", "x");
    ppx_log(PPX_LOG_INFO, "i");
    ppx_log(PPX_LOG_DBG, "d");
    ppx_log_rank(PPX_LOG_ERR, 3, "r %d", 4);
}

static int levels(void)
{
    static char out[4096];
    captured(all_levels, out, sizeof out);
    CHECK_STR(out, "prepix: e 1\nprepix: warning: w x\nprepix: i\nprepix: rank 3: r 4\n");
    ppx_log_set_level(PPX_LOG_ERR);
    captured(all_levels, out, sizeof out);
    CHECK_STR(out, "prepix: e 1\nprepix: rank 3: r 4\n");
    ppx_log_set_level(PPX_LOG_DBG);
    captured(all_levels, out, sizeof out);
    CHECK_STR(out,
              "prepix: e 1\nprepix: warning: w x\nprepix: i\nprepix: d\nprepix: rank 3: r 4\n");
    CHECK_EQ_INT(ppx_log_get_level(), PPX_LOG_DBG);
    return 0;
}

static void very_long(void)
{
    static char text[40000];
    memset(text, 'x', sizeof text - 1);
    ppx_log(PPX_LOG_ERR, "%s", text);
    ppx_log(PPX_LOG_ERR, "next");
}

static int long_line_cut(void)
{
    static char out[65536];
    captured(very_long, out, sizeof out);
    char *nl = strchr(out, '\n');
    CHECK(nl != NULL && strncmp(out, "prepix: xxx", 11) == 0);
    CHECK(nl - out < 20000); /* cut, one line */
    CHECK_STR(nl + 1, "prepix: next\n");
    return 0;
}

PPX_TEST_MAIN(TEST(levels), TEST(long_line_cut))
