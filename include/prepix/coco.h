/* COCO annotations (instances, keypoints) carried through each image's
 * geometry record (docs/pipeline.md, "COCO annotations").
 *
 * Rank 0 reads the file once with limits and checks all of it before any
 * work: malformed JSON, a limit passed, a non-finite or negative size, an
 * image id that repeats or that an annotation names without it existing
 * are each one error naming the place (`annotations[12].bbox[2]`). At the
 * end it writes the mapped file: every image that has an output, with its
 * file_name, width and height replaced; every annotation of it mapped,
 * clipped, or dropped when nothing of it is left in the output. Every
 * other value is copied byte for byte, members in their order. Pure
 * computation on memory; safe anywhere (with threads > 1, reading and
 * writing start threads and join them before they return). */
#ifndef PREPIX_COCO_H
#define PREPIX_COCO_H

#include "prepix/error.h"

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/geom.h"

typedef struct ppx_coco ppx_coco;

typedef struct {
    uint64_t max_bytes;       /* the file: default 2 GiB */
    uint32_t max_depth;       /* nesting: default 32 (COCO needs 5) */
    uint64_t max_nodes;       /* values, an array of numbers counting one: default 2^27 */
    uint64_t max_numbers;     /* numbers in one array: default 2^24 */
    uint64_t max_images;      /* default 2^26 */
    uint64_t max_annotations; /* default 2^28 */
    uint64_t max_pixels;      /* an RLE mask's h x w: default --max-pixels' 2^28 */
    unsigned threads;         /* threads that read and write the annotations: default 1 */
} ppx_coco_limits;

void ppx_coco_default_limits(ppx_coco_limits *l);

/* Parses and checks text (len bytes; the object takes it over: text is
 * freed with the object, or on failure). *out on success; else err (stage
 * INPUT) says where and why: PPX_ECORRUPT, PPX_ELIMIT, PPX_EINVAL (a value
 * COCO does not allow), PPX_ENOMEM. */
PPX_MUST_USE int ppx_coco_parse(ppx_buf *text, const ppx_coco_limits *l, ppx_coco **out,
                                ppx_err *err);
void ppx_coco_free(ppx_coco **c);

/* The images of the file, in its order: their count and each file_name
 * (unescaped bytes, NUL-terminated; valid while c lives); the count of its
 * annotations. */
size_t ppx_coco_n_images(const ppx_coco *c);
size_t ppx_coco_n_annotations(const ppx_coco *c);
const char *ppx_coco_file_name(const ppx_coco *c, size_t i);

/* What became of image i of the file in the run. */
enum { PPX_COCO_ABSENT = 0, PPX_COCO_OK, PPX_COCO_FAILED };
typedef struct {
    int state;        /* PPX_COCO_*: no input of the run has its file_name; written; failed */
    const char *name; /* OK: the output's file_name */
    ppx_geom geom;    /* OK: its geometry record */
} ppx_coco_out;

/* Annotations dropped for lying wholly outside their image's output, per
 * category id (ascending). */
typedef struct {
    int64_t category;
    uint64_t dropped;
} ppx_coco_dropped;

typedef struct {
    uint64_t images, images_written, images_failed, images_absent;
    uint64_t annotations, annotations_written, annotations_outside, annotations_removed;
    ppx_coco_dropped *by_category; /* owned: free() it */
    size_t n_categories;
} ppx_coco_counts;

/* Where ppx_coco_write_to puts the mapped text, a piece at a time in
 * order: put returns 0, or a PPX_E* code with err set (writing stops). */
typedef struct {
    int (*put)(void *ctx, const void *data, size_t len, ppx_err *err);
    void *ctx;
} ppx_coco_sink;

/* Writes the mapped JSON of c to sink, for the images' fates
 * outs[0..ppx_coco_n_images) (ppx_coco_out), counting into *counts
 * (zeroed here; by_category allocated). The annotations are mapped by the
 * limits' threads (started and joined here; sink is called from the
 * calling thread alone); the text is the same for any number of threads,
 * and never held whole in memory. 0, PPX_ENOMEM, PPX_ELIMIT (an RLE mask
 * of an output over the pixel limit), or what sink returned. */
PPX_MUST_USE int ppx_coco_write_to(const ppx_coco *c, const ppx_coco_out *outs,
                                   const ppx_coco_sink *sink, ppx_coco_counts *counts,
                                   ppx_err *err);

/* ppx_coco_write_to into json (appended). */
PPX_MUST_USE int ppx_coco_write(const ppx_coco *c, const ppx_coco_out *outs, ppx_buf *json,
                                ppx_coco_counts *counts, ppx_err *err);

/* Image i of the file with its annotations, as they were written, as a
 * COCO file of its own: {"images":[IMAGE],"annotations":[ITS ANNOTATIONS]}
 * (file order), appended to out. ppx_coco_parse reads it back; it is how
 * rank 0 hands a shard writer the annotations of a sample. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_coco_slice(const ppx_coco *c, size_t i, ppx_buf *out);

/* The KEY.json member of a -f tar sample for image i of c:
 * {"image": IMAGE, "annotations": [...]}, the image and its kept
 * annotations mapped through out exactly as ppx_coco_write maps them in
 * coco.json (the same bytes), appended to json; nothing when out->state is
 * not PPX_COCO_OK. 0, PPX_ENOMEM or PPX_ELIMIT, as ppx_coco_write. */
PPX_MUST_USE int ppx_coco_write_sample(const ppx_coco *c, size_t i, const ppx_coco_out *out,
                                       ppx_buf *json, ppx_err *err);

/* ---- pieces, shared with the tests -------------------------------------- */

/* How threads share the work: the reader's smallest part of the
 * annotations list (default 4 MiB; a 64th of it is the fewest annotations
 * a thread looks up the images of) and the writer's block (1 MiB) of
 * text. Tests make them small, to cut small files into many. */
extern size_t ppx__coco_part_min, ppx__coco_block_bytes;

/* Sutherland-Hodgman: the polygon xy[0..2n) clipped to [0, w] x [0, h]
 * into *out (cap doubles, grown with realloc as needed); returns its vertex
 * count, or (size_t)-1 when out of memory. */
size_t ppx_coco_clip_polygon(const double *xy, size_t n, double w, double h, double **out,
                             size_t *cap);
/* pycocotools' compressed RLE string of counts, appended to out (no NUL). */
PPX_MUST_USE int ppx_coco_rle_encode_string(const uint32_t *counts, size_t n, ppx_buf *out);
/* Decodes a compressed RLE string s (len bytes) into counts (a growing
 * array). 0, PPX_ECORRUPT (a character outside the alphabet, a run that
 * ends inside a number, a negative run) or PPX_ENOMEM. */
PPX_MUST_USE int ppx_coco_rle_decode_string(const char *s, size_t len, uint32_t **counts,
                                            size_t *n);

#endif
