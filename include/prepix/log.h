/* One message path for what prepix tells its user on stderr, in the style of
 * mpiFileUtils' MFU_LOG: a level per message, one threshold for the
 * process, set by the CLI (--quiet: errors only; -v: debug too).
 *
 * Every message is one line "prepix: TEXT\n" ("prepix: warning: TEXT\n" for
 * warnings, "prepix: rank R: TEXT\n" from ppx_log_rank), written with one
 * call so that lines of several ranks on one terminal never mix. Library
 * code logs what it decided and returns a PPX_E code; it never chooses the
 * process's exit code. Safe from any rank; not from a signal handler. */
#ifndef PREPIX_LOG_H
#define PREPIX_LOG_H

typedef enum {
    PPX_LOG_ERR = 0, /* the run, or a part of it, cannot go on */
    PPX_LOG_WARN,    /* something the user should look at; the run goes on */
    PPX_LOG_INFO,    /* what the run did: resumed, cleaned up, stopped asked */
    PPX_LOG_DBG      /* decisions, for whoever runs it with -v */
} ppx_log_level;

/* Messages above level are dropped. PPX_LOG_INFO until set. */
void ppx_log_set_level(ppx_log_level level);
ppx_log_level ppx_log_get_level(void);

/* "prepix: TEXT\n" (warnings: "prepix: warning: TEXT\n"); fmt has no newline. */
__attribute__((format(printf, 2, 3))) void ppx_log(ppx_log_level level, const char *fmt, ...);
/* "prepix: rank R: TEXT\n": a message of one rank among several. */
__attribute__((format(printf, 3, 4))) void ppx_log_rank(ppx_log_level level, int rank,
                                                        const char *fmt, ...);

#endif
