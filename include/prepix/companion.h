/* Companions: masks and other per-pixel maps that belong to an image and
 * travel with it through the same geometry (docs/pipeline.md, "Companion
 * images"). This header holds what the command line and the job share: the
 * parsed `--with ROLE[=DIR][,kind=label|image][,fill=V][,optional]`. */
#ifndef PREPIX_COMPANION_H
#define PREPIX_COMPANION_H

#include <stdint.h>

#include "prepix/error.h"

/* At most this many roles in one run. */
#define PPX_ROLES_MAX 4
/* A role name is at most this long: it names a folder of OUTDIR and a tar
 * member's middle extension (KEY.ROLE.png). */
#define PPX_ROLE_MAX 32

typedef enum {
    PPX_COMP_LABEL = 0, /* values kept: nearest neighbour, palettes kept */
    PPX_COMP_IMAGE,     /* a continuous map (depth): the primary's filters */
} ppx_comp_kind;

typedef struct {
    char role[PPX_ROLE_MAX + 1];
    char dir[4096]; /* the companion tree, as given; "": archive members only */
    ppx_comp_kind kind;
    uint16_t fill; /* what padding writes into the map */
    int optional;  /* a missing companion is no failure of its image */
} ppx_companion_spec;

/* Parses one `--with` argument into *out. A role is 1..PPX_ROLE_MAX letters, digits, '_' or '-' and
 * not the name of an image extension. 0, or PPX_EUSAGE with err saying what
 * was expected (stage JOB). Safe anywhere. */
PPX_MUST_USE int ppx_companion_parse(const char *arg, ppx_companion_spec *out, ppx_err *err);

#endif
