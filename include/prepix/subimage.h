/* Pages and chips: samples that are a part of one input file.
 *
 * With --pages, each page of a multi-page TIFF is a sample keyed
 * FILE#pN (N from 0, as tifffile's pages[N]); with --chips WxH, each
 * window of W x H pixels is a sample keyed FILE@X,Y (X, Y its top-left
 * corner in the page); both together give FILE#pN@X,Y. FILE is the input's
 * key (a path relative to INPUT, ending in .tif or .tiff). The keys are
 * made once, by rank 0 from the files' directories (docs/scheduling.md
 * says why there), and a worker reads the part a key names back from it.
 * No MPI; safe in a worker. */
#ifndef PREPIX_SUBIMAGE_H
#define PREPIX_SUBIMAGE_H

#include "prepix/error.h"

#include <stddef.h>
#include <stdint.h>

#include "prepix/image.h"
#include "prepix/limits.h"

typedef enum { PPX_EDGE_DROP = 0, PPX_EDGE_PAD, PPX_EDGE_SHIFT } ppx_chip_edge;

/* Defaults of the per-file limits (--max-pages, --max-chips). */
#define PPX_SUB_MAX_PAGES 65536u
#define PPX_SUB_MAX_CHIPS 1000000u

typedef struct {
    int pages;                      /* --pages given: every page keyed #pN */
    uint32_t page_first, page_last; /* the range (UINT32_MAX: to the last page) */
    uint32_t chip_w, chip_h;        /* --chips WxH; 0: no chips */
    uint32_t stride_x, stride_y;    /* --chip-stride (default: the chip size) */
    ppx_chip_edge edge;             /* --chip-edge */
    int has_nodata;                 /* --nodata V given */
    double nodata;                  /* pad value, and the value of chips to skip */
    uint32_t max_pages, max_chips;  /* per file; a file over them fails whole */
} ppx_sub_opts;

void ppx_sub_opts_init(ppx_sub_opts *o);

/* The bytes of v as one sample of type t (host order) in out: rounded and
 * clamped to the type (NaN: 0) when exact is 0 (what pad fills with), or,
 * when exact is 1, only if t holds v exactly (what a nodata chip is made
 * of): 0, or -1 when it does not. Pure; safe anywhere. */
PPX_MUST_USE int ppx_sample_encode(ppx_sample t, double v, int exact, uint8_t out[4]);

/* Whether o asks for pages or chips at all. */
static inline int ppx_sub_active(const ppx_sub_opts *o)
{
    return o && (o->pages || o->chip_w > 0);
}

/* Parses "all", "N" or "A-B" (pages from 0, A <= B) into o. 0 or PPX_EUSAGE. */
PPX_MUST_USE int ppx_sub_parse_pages(ppx_sub_opts *o, const char *s);

/* One command-line option of pages and chips into o: name without its
 * dashes ("pages", "chips", "chip-stride", "chip-edge", "nodata",
 * "max-pages", "max-chips") and its argument. 0, 1 when name is not one of
 * them, or PPX_EUSAGE with why (the option, the argument, what was
 * expected) written. */
PPX_MUST_USE int ppx_sub_parse_option(ppx_sub_opts *o, const char *name, const char *arg, char *why,
                                      size_t cap);
/* After the last option: defaults that follow from others (the stride is
 * the chip's size) and the combinations that mean nothing. 0 or PPX_EUSAGE
 * with why written. */
PPX_MUST_USE int ppx_sub_finish(ppx_sub_opts *o, char *why, size_t cap);

/* What a key names. */
typedef struct {
    size_t file_len; /* the input file's key is the first file_len bytes */
    int has_page, has_chip;
    uint32_t page, x, y;
} ppx_subkey;

/* Parses key as FILE[#pN][@X,Y] with FILE ending in .tif or .tiff (any
 * case) and at least one of the two suffixes: 1 with *k written, else 0
 * (an ordinary key). Listed names end in an image extension, so a key
 * with such a suffix can only have been made by ppx_sub_expand. */
PPX_MUST_USE int ppx_subkey_parse(const char *key, ppx_subkey *k);

/* Called by ppx_sub_expand for each sample of a file: page (meaningful when
 * o->pages) and the chip's corner (meaningful when o->chip_w). */
typedef int (*ppx_sub_fn)(void *arg, uint32_t page, uint32_t x, uint32_t y, ppx_err *err);

/* The samples of the TIFF file in buf (mapped, not read), in order: pages
 * in the file's order, each page's chips row by row. A file over
 * o->max_pages or o->max_chips, or one that makes no sample at all (a page
 * smaller than a chip with --chip-edge drop, a page range past its end), is
 * an error before fn is called for any of its samples (stage INPUT): the
 * file then is one failure. Bounded in time by the limits. 0 or a code. */
PPX_MUST_USE int ppx_sub_expand(const uint8_t *buf, size_t len, const ppx_limits *limits,
                                const ppx_sub_opts *o, ppx_sub_fn fn, void *arg, ppx_err *err);

/* Writes FILE#pN@X,Y (the parts o asks for) into out. 0, or
 * PPX_ENAMETOOLONG. */
PPX_MUST_USE int ppx_subkey_format(char *out, size_t cap, const char *file, size_t file_len,
                                   const ppx_sub_opts *o, uint32_t page, uint32_t x, uint32_t y);

#endif
