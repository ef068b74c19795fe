#include "prepix/error.h"

#include <stdio.h>
#include <string.h>

const char *ppx_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define X(name, text)                                                                              \
    case PPX_##name:                                                                               \
        return text;
        PPX_ERRNO_MAP(X)
#undef X
    default:
        return "unknown error";
    }
}

const char *ppx_err_name(int code)
{
    switch (code) {
    case 0:
        return "OK";
#define X(name, text)                                                                              \
    case PPX_##name:                                                                               \
        return #name;
        PPX_ERRNO_MAP(X)
#undef X
    default:
        return "EUNKNOWN";
    }
}

static const char *const stage_names[] = {
#define X(name, text) text,
    PPX_STAGE_MAP(X)
#undef X
};

const char *ppx_stage_name(int stage)
{
    if (stage < 0 || stage >= PPX_STAGE__COUNT)
        return "unknown";
    return stage_names[stage];
}

int ppx_stage_from_name(const char *name)
{
    for (int i = 0; i < PPX_STAGE__COUNT; i++)
        if (strcmp(stage_names[i], name) == 0)
            return i;
    return -1;
}

void ppx_err_clear(ppx_err *err)
{
    if (!err)
        return;
    err->code = 0;
    err->stage = PPX_STAGE_NONE;
    err->msg[0] = '\0';
}

int ppx_err_setv(ppx_err *err, int code, int stage, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    err->stage = stage;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    /* One line: a failure entry is one line of a log and of the report. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(err->msg);
    while (n > 0 && err->msg[n - 1] == ' ')
        err->msg[--n] = '\0';
    return code;
}

int ppx_err_set(ppx_err *err, int code, int stage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ppx_err_setv(err, code, stage, fmt, ap);
    va_end(ap);
    return code;
}
