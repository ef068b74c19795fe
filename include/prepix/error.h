/* Error codes, stages and the caller-owned error record.
 *
 * A function that can fail returns 0 or a negative PPX_E* code and fills the
 * caller's ppx_err. Whoever detects the error writes the message; callers
 * only pass the code on (libvips' rule). */
#ifndef PREPIX_ERROR_H
#define PREPIX_ERROR_H

#include <stdarg.h>

/* On every function that returns an error code (or a result a caller must
 * look at): ignoring it is a warning, an error under -Werror. Not on
 * ppx_err_set, whose return is only a convenience for `return
 * ppx_err_set(...)`: the error is in *err. */
#define PPX_MUST_USE __attribute__((warn_unused_result))

/* Drops a PPX_MUST_USE result where that is right; each call site says
 * why. (GCC warns about a (void) cast of such a call, so this is the one
 * spelling of "ignored on purpose".) */
static inline void ppx_ignore(int rc)
{
    (void)rc;
}

/* X(name, text): one table makes the enum, ppx_strerror() and ppx_err_name(). */
#define PPX_ERRNO_MAP(X)                                                                           \
    X(EINVAL, "invalid argument")                                                                  \
    X(ENOMEM, "out of memory")                                                                     \
    X(EIO, "input/output error")                                                                   \
    X(EEMPTY, "empty file")                                                                        \
    X(EFORMAT, "unrecognised file format")                                                         \
    X(ECORRUPT, "corrupt image data")                                                              \
    X(ETRUNC, "truncated image data")                                                              \
    X(EUNSUPPORTED, "unsupported image feature")                                                   \
    X(ELIMIT, "image exceeds limits")                                                              \
    X(ESTATE, "decoder already failed")                                                            \
    X(ESPEC, "bad pipeline spec")                                                                  \
    X(EUSAGE, "usage error")                                                                       \
    X(ESPECIAL, "not a regular file")                                                              \
    X(ELOOP, "symbolic link loop")                                                                 \
    X(ENOENT, "no such file")                                                                      \
    X(EOUTPUT, "cannot write output")                                                              \
    X(ECRASH, "worker killed by a signal")                                                         \
    X(ETIMEOUT, "worker timed out")                                                                \
    X(ECANCELED, "operation canceled")                                                             \
    X(EMPI, "MPI failure")                                                                         \
    X(EINTERNAL, "internal error")                                                                 \
    X(EUNSAFE, "unsafe path")                                                                      \
    X(ENAMETOOLONG, "file name too long")                                                          \
    X(ECHANGED, "input changed after listing")

enum {
    PPX_OK = 0,
#define PPX_X_ENUM(name, text) PPX__CODE_##name,
    PPX__CODE_FIRST = 0,
    PPX_ERRNO_MAP(PPX_X_ENUM) PPX__CODE_LAST
#undef PPX_X_ENUM
};

/* The public codes are negative: PPX_EINVAL == -1, ... */
#define PPX_X_DEF(name, text) PPX_##name = -PPX__CODE_##name,
enum { PPX_ERRNO_MAP(PPX_X_DEF) };
#undef PPX_X_DEF

/* Where in the life of one image an error happened. */
#define PPX_STAGE_MAP(X)                                                                           \
    X(NONE, "none")                                                                                \
    X(INPUT, "input")                                                                              \
    X(READ, "read")                                                                                \
    X(DECODE, "decode")                                                                            \
    X(TRANSFORM, "transform")                                                                      \
    X(ENCODE, "encode")                                                                            \
    X(WRITE, "write")                                                                              \
    X(WORKER, "worker")                                                                            \
    X(TIMEOUT, "timeout")                                                                          \
    X(JOB, "job")

typedef enum {
#define PPX_X_STAGE(name, text) PPX_STAGE_##name,
    PPX_STAGE_MAP(PPX_X_STAGE)
#undef PPX_X_STAGE
        PPX_STAGE__COUNT
} ppx_stage;

/* The longest path prepix builds or copies, NUL included (Linux's PATH_MAX):
 * the one size of path buffers across the tree. */
#define PPX_PATH_MAX 4096
#define PPX_ERR_MSG_MAX 384

/* Caller-owned error record. Plain data: it may be copied through a pipe. */
typedef struct {
    int code;                  /* 0 or a negative PPX_E* code */
    int stage;                 /* ppx_stage */
    char msg[PPX_ERR_MSG_MAX]; /* one line, no trailing newline */
} ppx_err;

/* Text of a code ("corrupt image data"); "unknown error" for others. */
const char *ppx_strerror(int code);
/* Name of a code ("ECORRUPT"). */
const char *ppx_err_name(int code);
/* Name of a stage ("decode"). */
const char *ppx_stage_name(int stage);
/* Stage from its name, or -1. */
PPX_MUST_USE int ppx_stage_from_name(const char *name);

/* Clears the record (code 0, empty strings). Accepts NULL. */
void ppx_err_clear(ppx_err *err);
/* Fills code, stage and a printf-style message (newlines become spaces, the
 * text is cut to one line) and returns code, so that callers can write
 * `return ppx_err_set(err, PPX_ECORRUPT, PPX_STAGE_DECODE, "...")`.
 * Accepts err == NULL. */
int ppx_err_set(ppx_err *err, int code, int stage, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int ppx_err_setv(ppx_err *err, int code, int stage, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
