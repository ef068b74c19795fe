/* The scheduler's shard assembly (-f tar, -f npy): class labels from the
 * listing, one shard per chunk assembled from its images' outputs and
 * written whole, the npy shape from the pipeline's output geometry, and
 * index.csv and classes.txt at the end, and their counts for the report. The byte formats
 * themselves (tar members, NPY headers) are core's: prepix/tar_npy.h. */
#ifndef PPX_SCHED_SHARDS_H
#define PPX_SCHED_SHARDS_H

#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/failures.h"
#include "prepix/sched.h"
#include "prepix/tar_npy.h"
#include "sched/listing.h"
#include "stats/report.h"

/* The classes: the distinct class names of the listing's entries, sorted in
 * byte order; a label is an index into them, -1 for an entry without one.
 * An entry's class is, for a file, its first folder under INPUT; for an
 * archive member, the value of its sample's .cls member when there is one
 * (the label itself, not a name); else, for an archive below the top level
 * of a folder INPUT (not a split), its first folder under INPUT, as for a
 * file; else the stem of the inner archive it is in (ImageNet's
 * n01440764.tar), else its first folder inside the archive, else the stem
 * of the archive itself (-1 when INPUT is the archive). Failure entries of
 * archives make no class, nor does a folder without an entry. Only the
 * archives at the top level, of a list or of splits add classes that may
 * sort before folders walked earlier: without them, the walk meets the
 * classes in their order (why a shard run streams when INPUT's top level
 * holds no archive: docs/scheduling.md, "Which runs stream"). */
typedef struct {
    char **names;
    size_t n, cap;
    /* .cls values, which are labels, not names: the largest one at or above
     * 0 (-1 when none), and the first one that no line of classes.txt can
     * name (below -1, or PPX_CLS_LINES_MAX or more; PPX_NO_CLS when none).
     * -1 is "no label", as in index.csv. */
    int64_t cls_max, cls_unnamed;
    size_t seen, cursor; /* entries taken, and the walk errors passed (ppx_classes_grow) */
} ppx_classes;
/* classes.txt of .cls labels holds a line per id from 0 to the largest:
 * at most this many (4,194,304 lines, 31 MB; WebFace260M, among the largest
 * labelled sets, has 4 million identities), so that a .cls of 10^18 costs
 * no disk. */
#define PPX_CLS_LINES_MAX ((int64_t)1 << 22)

/* The classes of the whole listing l into *cl (caller-owned). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_classes_build(ppx_classes *cl, const ppx_listing *l);
/* Empty classes, for ppx_classes_grow. */
void ppx_classes_init(ppx_classes *cl);
/* Takes the entries listed since the last call (a listing that grows: a
 * streamed walk), appending their new class names, which must come in
 * order: the labels of the entries taken are then final. 0, PPX_ENOMEM, or
 * PPX_EINVAL when a name sorts before one already taken (the listing is not
 * one whose classes the walk meets in order; *cl keeps the names before). */
PPX_MUST_USE int ppx_classes_grow(ppx_classes *cl, const ppx_listing *l);
int64_t ppx_classes_label(const ppx_classes *cl, const ppx_listing *l, size_t i);
void ppx_classes_destroy(ppx_classes *cl);

/* OUTDIR/shard-NNNNNN.tar, or .npy (labels: .labels.npy); outdir "": the name alone. */
PPX_MUST_USE int ppx_shard_path(char *out, size_t cap, const char *outdir, ppx_shard_kind kind,
                                uint64_t id, int labels);

/* One image of a shard: its listing index, label, ppx_format and bytes. */
typedef struct {
    uint64_t index;
    int64_t label;
    int format;
    const uint8_t *data;
    uint64_t len;
    /* Its companions (--with): part_len[k] bytes of role k's right after
     * data + len, in role order (0: none). */
    uint64_t part_len[PPX_ROLES_MAX];
} ppx_shard_item;

/* Writes the shard of the n items (any order; sorted here) atomically below
 * the OUTDIR descriptor outdir, with the images in listing order and the
 * permission bits mode (0: 0644). sides (tar; may be NULL): the samples'
 * other members, records of (index, extension length, extension, length,
 * bytes), in index order, written after their image as KEY.EXTENSION
 * (records of an index that is not among the items are skipped); a sample
 * with its own .cls keeps it instead of the generated one. annots (tar;
 * may be NULL): more records of the same form, written after the
 * sidecars (--coco's KEY.json). roles (n_roles,
 * may be 0): the companions' roles; tar gets KEY.ROLE.png (.tiff with TIFF
 * images) after each image, npy a shard-N.ROLE.npy per role (N x H x W,
 * uint8, or uint16 when one of the shard's maps is 16-bit), rows aligned
 * with the images'. npy items' format is their ppx_npy_layout, one for the
 * whole shard (else PPX_EINTERNAL): the array's dtype and C (shape gives H
 * and W, and the layout of an empty shard). scratch is reused between
 * calls. */
PPX_MUST_USE int ppx_shard_write(int outdir, ppx_shard_kind kind, const ppx_npy_shape *shape,
                                 uint64_t id, ppx_shard_item *items, size_t n, uint32_t mode,
                                 const ppx_buf *sides, const ppx_buf *annots,
                                 const ppx_companion_spec *roles, int n_roles, ppx_buf *scratch,
                                 ppx_err *err);

/* index.csv (key,shard,label,path and the geometry record's columns
 * width,height,xx,xy,x0,yx,yy,y0 per image not in fails, listing order;
 * geoms: the images' records sorted by index, or NULL; an image without
 * one has those columns empty)
 * and classes.txt, atomically. fails must be sorted by index. classes.txt
 * holds the class names, one a line; with no names but .cls labels, the ids
 * 0 to cl->cls_max in decimal, line k holding "k" (so that a reader taking
 * line `label` as the name stays right); empty when a .cls value cannot be
 * a line number (cl->cls_unnamed). */
PPX_MUST_USE int ppx_shard_write_index(int outdir, ppx_shard_kind kind, uint64_t shard_size,
                                       const ppx_listing *l, const ppx_classes *cl,
                                       const ppx_failures *fails, const ppx_prints *geoms,
                                       ppx_err *err);

/* The geometry record's columns of index.csv and geometry.csv. */
#define PPX_GEOM_CSV_HEADER "width,height,xx,xy,x0,yx,yy,y0"
/* Appends ",width,height,xx,xy,x0,yx,yy,y0" of p's record (empty fields
 * without one), doubles with 17 significant digits, which read back
 * exactly. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx__geom_fields(ppx_buf *b, const ppx_print *p);
/* Appends s as one CSV field (RFC 4180: quoted when it holds a comma, a
 * quote or a line break). 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx__csv_field(ppx_buf *b, const char *s);

/* What the report lists of a completed shard run, index.csv's rows counted:
 * one entry per shard with its images not in fails (an empty shard too), and
 * one per label that index.csv holds or class name in cl, by label, with its
 * images; names point into cl (the ids that classes.txt lists for .cls
 * labels are not names: NULL, and an id without images is left out). */
typedef struct {
    ppx_report_shard *shards;
    size_t n_shards;
    ppx_report_class *classes;
    size_t n_classes;
} ppx_shard_tally;

/* Fills *t (caller-owned; fails sorted by index). 0, or PPX_ENOMEM with *t
 * empty. Rank 0 only. */
PPX_MUST_USE int ppx_shard_tally_build(ppx_shard_tally *t, ppx_shard_kind kind, uint64_t shard_size,
                                       const ppx_listing *l, const ppx_classes *cl,
                                       const ppx_failures *fails);
/* Frees what ppx_shard_tally_build allocated; *t is left empty. */
void ppx_shard_tally_destroy(ppx_shard_tally *t);

#endif
