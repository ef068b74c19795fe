/* The one message path (prepix/log.h). */
#include "prepix/log.h"

#include <stdarg.h>
#include <stdio.h>

/* Read and written on one thread (the rank's), set once by the CLI. */
static ppx_log_level threshold = PPX_LOG_INFO;

void ppx_log_set_level(ppx_log_level level)
{
    threshold = level;
}

ppx_log_level ppx_log_get_level(void)
{
    return threshold;
}

/* The longest line: a message (PPX_ERR_MSG_MAX) quoting escaped paths; a
 * longer one is cut, never split. */
#define LINE_MAX_BYTES 16384

__attribute__((format(printf, 3, 0))) static void emit(ppx_log_level level, int rank,
                                                       const char *fmt, va_list ap)
{
    if (level > threshold)
        return;
    char line[LINE_MAX_BYTES];
    int n = rank >= 0 ? snprintf(line, sizeof line, "prepix: rank %d: ", rank)
                      : snprintf(line, sizeof line, "prepix: %s",
                                 level == PPX_LOG_WARN ? "warning: " : "");
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    line[len] = '\0';
    /* One write: stderr is unbuffered, so fputs hands the line to the
     * kernel whole. */
    fputs(line, stderr);
}

void ppx_log(ppx_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, -1, fmt, ap);
    va_end(ap);
}

void ppx_log_rank(ppx_log_level level, int rank, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, rank, fmt, ap);
    va_end(ap);
}
