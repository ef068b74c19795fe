/* Internal representation of a parsed pipeline, shared by parse.c and
 * pipeline.c. */
#ifndef PPX_PIPELINE_IMPL_H
#define PPX_PIPELINE_IMPL_H

#include "prepix/error.h"

#include <stdint.h>

#include "prepix/ops.h"
#include "prepix/pipeline.h"

typedef enum {
    PPX_OP_AUTOROTATE = 0,
    PPX_OP_RESIZE,
    PPX_OP_CENTER_CROP,
    PPX_OP_CROP,
    PPX_OP_RANDOM_CROP,
    PPX_OP_PAD,
    PPX_OP_FLIP,
    PPX_OP_ROTATE,
    PPX_OP_GRAYSCALE,
    PPX_OP_RGB,
    PPX_OP_TO_8BIT,
    PPX_OP_EQUALIZE,
    PPX_OP_NORMALIZE,
    PPX_OP_BANDS,
    PPX_OP_SCALE,
    PPX_OP__COUNT
} ppx_op_kind;

/* Bands one `bands` op may list. */
#define PPX_OP_MAX_BANDS 64

/* One op with every argument resolved (defaults filled in). */
typedef struct {
    ppx_op_kind kind;
    uint32_t w, h;     /* size (resize, crops, pad) */
    int single;        /* resize: size given as one number S */
    ppx_fit fit;       /* resize */
    ppx_filter filter; /* resize, random-crop */
    int draft;         /* resize: PPX_DRAFT_*, how far JPEG shrink-on-load may go */
    uint32_t x, y;     /* crop origin */
    double scale[2];   /* random-crop */
    double ratio[2];   /* random-crop */
    uint8_t color[4];  /* pad, RGBA */
    int vertical;      /* flip */
    double p;          /* flip probability */
    int degrees;       /* rotate */
    float mean[PPX_MAX_BANDS], std[PPX_MAX_BANDS];
    unsigned nvals;                   /* normalize: 1 (all channels) or one per channel (band) */
    uint16_t bands[PPX_OP_MAX_BANDS]; /* bands: 0-based band of each output band */
    unsigned nbands;
    double lo, hi; /* scale: the value range mapped to 0..max */
    int to;        /* scale: 8 or 16 bits */
} ppx_op;

/* Shrink-on-load before a resize: the value is the reduction the resize must
 * still do after the DCT scaling (0: no shrink on load). */
enum { PPX_DRAFT_OFF = 0, PPX_DRAFT_FAST = 1, PPX_DRAFT_SAFE = 2 };
PPX_MUST_USE int ppx_draft_from_name(const char *s);
const char *ppx_draft_name(int d);

struct ppx_pipeline {
    int n;
    ppx_op *ops;
    char *canonical;
};

#endif
