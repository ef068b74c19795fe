/* What the COCO reader (coco_read.c) keeps of a file for the writer
 * (coco.c): no node per value, no copy of the values. Each image and
 * annotation is its object's place in the text (which the writer reads
 * again, copying byte for byte what it does not change) and what checking
 * found: ids, sizes, and where the values that mapping replaces start.
 * On the machines we measure, touching fresh memory costs as much as
 * reading the text (0.4 to 0.9 s of CPU for 450 MB, page faults and
 * zeroing): tables of nodes or of converted numbers cost more than
 * converting the few numbers again. Private to src/annot. */
#ifndef PREPIX_ANNOT_COCO_IMPL_H
#define PREPIX_ANNOT_COCO_IMPL_H

#include "prepix/coco.h"

#include <string.h>

#include "prepix/json_read.h"

/* A member of the top level: where its key (with quotes) and its value
 * are in the text. */
typedef struct {
    uint32_t key, key_len, val, len;
} coco_member;

/* The members of an annotation that checking and mapping look at. */
enum { M_BBOX, M_SEG, M_KP, M_AREA, M_IMAGE, M_CAT, M_COUNT };

/* How a segmentation was written. */
enum { SEG_NONE = 0, SEG_POLY, SEG_RLE, SEG_EMPTY };

typedef struct {
    int64_t id;
    uint32_t start, len; /* the object's bytes */
    uint32_t width, height;
    size_t name_off; /* into names */
} coco_image;

typedef struct {
    uint32_t start, len;
    /* Where the value of each of bbox, segmentation, keypoints and area
     * starts in the text (the last, when one repeats), 0 when absent. */
    uint32_t at[M_IMAGE];
    uint8_t seg_kind; /* SEG_* */
    int64_t category;
    int64_t image; /* image_id, then its index into images once found */
} coco_ann;

struct ppx_coco {
    ppx_buf text;
    ppx_coco_limits lim;
    coco_member *root; /* the top level's members */
    size_t n_root, root_cap;
    long root_images, root_anns; /* their index in root (the last, when one repeats), or -1 */
    coco_image *im;
    size_t n_im, im_cap;
    coco_ann *an;
    size_t n_an, an_cap;
    /* The annotations of image i, in file order: by_image[at[i] .. at[i + 1]). */
    size_t *at, *by_image;
    ppx_buf names;
};

/* The end of the value at p in text the reader checked. */
static inline const char *coco_skip(const char *p)
{
    if (*p == '"') {
        for (p++; *p != '"'; p++)
            p += *p == '\\';
        return p + 1;
    }
    if (*p != '{' && *p != '[') {
        while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' &&
               *p != '\t')
            p++;
        return p;
    }
    for (int depth = 0;; p++) {
        if (*p == '"')
            p = coco_skip(p) - 1;
        else if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
    }
}

static inline const char *coco_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

/* Parses the text of c (c->text, NUL-terminated) into its tables and
 * checks it (prepix/coco.h's ppx_coco_parse). */
int ppx__coco_read(ppx_coco *c, ppx_err *err);

/* The RLE object of annotation a, parsed on its own (a few values) into d.
 * 0 or PPX_ENOMEM (err set). */
int ppx__coco_rle_doc(const ppx_coco *c, const coco_ann *a, ppx_jdoc *d, ppx_err *err);

/* Compressed or listed RLE counts of node of d into *counts (malloc'd). 0,
 * PPX_EINVAL (not counts), PPX_ECORRUPT or PPX_ENOMEM. */
int ppx__coco_rle_counts(const ppx_jdoc *d, long node, uint32_t **counts, size_t *n,
                         int *compressed);

#endif
