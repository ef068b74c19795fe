/* The plan of a run, with no MPI call and no run state: what a chunk is,
 * how the listing is cut into chunks, which entries fail before any work,
 * the messages between ranks packed and unpacked, and the exit code a run
 * ends with. Everything here is a function of its arguments, so the unit
 * tests (tests/unit/test_plan.c) and the fuzz target of the unpackers
 * (tests/fuzz/fuzz_wire.c) call it without a process or a launcher. */
#ifndef PPX_SCHED_PLAN_H
#define PPX_SCHED_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "work/job.h" /* ppx_span, ppx_result */
#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/failures.h"
#include "prepix/fingerprint.h"
#include "prepix/stats.h"
#include "sched/listing.h"
#include "sched/shards.h"
#include "stats/report.h"

/* The kind of an assignment: a chunk, or no more work. */
enum { ASSIGN_CHUNK = 1, ASSIGN_NOMORE = 2 };
/* The stop word of an assignment: go on, stop now (a signal, a fatal error),
 * or finish the chunks already started first (--max-failures). */
enum { STOP_NONE = 0, STOP_NOW = 1, STOP_DRAIN = 2 };
typedef struct chunk {
    uint64_t id, first, count;
    uint64_t next;      /* next image (0..count) to hand to a worker */
    uint64_t remaining; /* images whose result has not come back */
    ppx_buf keys;       /* NUL-terminated keys, back to back */
    uint64_t *key_off;
    uint32_t *prefail; /* why rank 0 knows this image fails before any work (PREFAIL_*) */
    int64_t *label;    /* shards: each image's class label */
    ppx_span *span;    /* archive members: where each image's bytes are (arc_len 0: a file) */
    /* tar shards from archive input: the samples' other members, records of
     * (image index in the chunk, offset, size, extension length, extension) */
    ppx_buf sides;
    /* -f tar with --coco: each annotated image's COCO slice, records of
     * (image index in the chunk, length, text) (ppx__coco_put_slice) */
    ppx_buf annots;
    /* bytes transport, on a rank other than 0: the assignment as received
     * (ppx__unpack_assign keeps it rather than copying), where each image's
     * bytes are; or the error rank 0 met reading it, in in_errs */
    ppx_buf inputs, in_errs;
    uint64_t *in_off, *in_len;
    int32_t *in_code;
    uint32_t *in_mode; /* the st_mode rank 0 saw reading it (--copy-mode) */
    /* finished images: records of (index, label, format, length, bytes,
     * input width and height, mode, image statistics), written and counted
     * where the outputs are written (ppx__write_outputs) */
    ppx_buf outputs;
    ppx_stats stats;
    ppx_failures fails;
    ppx_prints prints; /* fingerprints of its images counted ok */
    struct chunk *next_in_queue;
} chunk;

/* Images rank 0 knows to fail before any work. The reason travels with the
 * chunk as a u32 (the kind, and for walk errors errno << 8); the message is
 * made where the failure is recorded, so every rank words it the same. */
enum {
    PREFAIL_NONE,
    PREFAIL_COLLIDE,
    PREFAIL_TWICE,
    PREFAIL_UNSAFE,
    PREFAIL_TOOLONG,
    PREFAIL_WALK,
    PREFAIL_ARCHIVE,     /* PPX_TAR_* << 8 */
    PREFAIL_SAME_MEMBER, /* an archive holds two members of one name (tar allows it) */
    PREFAIL_ARC_OPEN     /* an archive the walk met could not be opened: errno << 8 */
};

/* ---- Chunks ------------------------------------------------------------ */

/* A chunk of count images from first, its arrays allocated (keys empty), or
 * NULL without memory. */
chunk *ppx__chunk_new(uint64_t id, uint64_t first, uint64_t count);
/* Frees c and all it holds; NULL is fine. */
void ppx__chunk_free(chunk *c);
/* The key of the chunk's image i (0..count). */
const char *ppx__chunk_key(const chunk *c, uint64_t i);

/* ---- Cutting the listing ------------------------------------------------ */

/* The most images a chunk holds: a lost chunk costs little. */
#define PPX_PLAN_CHUNK_MAX 256
/* --shards k: shards of ceil(n / k) images, k of them; where that leaves
 * fewer than k (few images: 20 in shards of 3 make 7), shards of
 * floor(n / k), so that a DataLoader's k workers all get one. A function of
 * the listing alone, so a resume finds the same size. k > 0. */
uint64_t ppx__plan_shards_size(uint64_t n, uint64_t k);
/* Workers of the job per image of the smallest automatic chunk: rank 0
 * answers every request, so the job's request rate, W x r / c for W workers
 * of r images/s each, must stay within what it serves. With r = 100 and
 * chunks of at least W / 200 images, it asks at most 20,000 requests a
 * second (docs/scheduling.md, "A model for 1,000 nodes"). */
#define PPX_PLAN_WORKERS_PER_IMAGE 200
/* The chunk size when none was asked for: about 32 chunks per worker of the
 * job (total_workers; 0 counts as 1), from ceil(W / 200) (1 below 200
 * workers) to the larger of that and PPX_PLAN_CHUNK_MAX. */
uint64_t ppx__plan_auto_chunk_size(uint64_t n, uint64_t total_workers);
/* The count of images from which on ppx__plan_auto_chunk_size no longer
 * depends on n (a streamed run waits for it, or the walk's end, to cut). */
uint64_t ppx__plan_auto_chunk_sure(uint64_t total_workers);
/* Chunks of chunk_size (> 0) images that n images make. */
uint64_t ppx__plan_n_chunks(uint64_t n, uint64_t chunk_size);
/* The images of chunk id: from *first, *count of them (the last chunk may
 * be short; a chunk past the end has none). */
void ppx__plan_range(uint64_t n, uint64_t chunk_size, uint64_t id, uint64_t *first,
                     uint64_t *count);
/* The PREFAIL_* word of an entry the walk could not read. */
uint32_t ppx__plan_walk_prefail(const ppx_walk_error *w);
/* Marks in prefail (one per entry of l) every entry the walk could not read. */
void ppx__plan_mark_walk_errors(const ppx_listing *l, uint32_t *prefail);

/* ---- The end ------------------------------------------------------------ */

/* What a run ends with (prepix/sched.h's ppx_run_outcome): fatal wins over
 * stopped, stopped over failures (failed images counted, or failures listed). */
int ppx__plan_outcome(int fatal, int stopped, uint64_t failed, size_t n_fails);
/* The outcome of a set-up that returned rc: 0 goes on; PPX_EUSAGE is a
 * refusal before any work, PPX_ECANCELED a stop while listing, anything
 * else fatal. */
int ppx__plan_setup_outcome(int rc);

/* ---- Messages between ranks (untrusted bytes: another rank's memory may be
 * damaged; every unpacker checks lengths before it allocates) ------------- */

/* An assignment: its head (kind, stop word, chunk id, first image, count),
 * then per image ppx__pack_assign_entry (and with the bytes transport, its
 * bytes or the error met reading them), then the sidecars as one block,
 * then (optional: absent reads as empty) the COCO slices as one block. */
PPX_MUST_USE int ppx__pack_assign_head(ppx_buf *b, int kind, int stop, uint64_t id, uint64_t first,
                                       uint64_t count);
PPX_MUST_USE int ppx__pack_assign_entry(ppx_buf *b, const char *key, uint32_t prefail,
                                        int64_t label, const ppx_span *sp);
/* The chunk of an assignment received in msg (its kind and stop word in
 * *kind, *stop), or NULL (no chunk, or malformed). With the bytes transport
 * the chunk takes msg's buffer as its images' bytes (no copy: a rank holds a
 * chunk's bytes once) and msg is left empty. */
chunk *ppx__unpack_assign(ppx_buf *msg, int bytes, int *kind, int *stop);

/* One rank's end message: its two flags (a fatal error, stopped early), its
 * statistics, its facts, its failures and its images' fingerprints,
 * appended to out. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx__pack_end(int fatal, int stopped, const ppx_stats *acc,
                               const ppx_rank_info *me, const ppx_failures *fails,
                               const ppx_prints *prints, ppx_buf *out);
/* Reads one rank's end message p[0..n), merging its flags into all[2], its
 * statistics into total, its failures into fails and its fingerprints into
 * prints; its facts into *ri. 0, or PPX_ECORRUPT / PPX_ENOMEM. */
PPX_MUST_USE int ppx__unpack_end(const uint8_t *p, size_t n, int all[2], ppx_stats *total,
                                 ppx_rank_info *ri, ppx_failures *fails, ppx_prints *prints);

/* A chunk's results, sent to rank 0 by the rank that made them (bytes
 * transport): id, count, statistics, failures, then the output records. */
typedef struct {
    uint64_t id, count;
    ppx_stats stats;
    ppx_failures fails; /* owned: ppx_failures_destroy */
    ppx_buf outputs;    /* points into the message (not owned) */
} ppx_chunk_result;
PPX_MUST_USE int ppx__pack_chunk_result(ppx_buf *b, uint64_t id, uint64_t count,
                                        const ppx_stats *st, const ppx_failures *fl,
                                        const ppx_buf *outputs, ppx_buf *scratch);
/* Reads a chunk's results p[0..n) into *cr. 0, or PPX_ECORRUPT / PPX_ENOMEM
 * (cr->fails then empty, cr->stats undefined). */
PPX_MUST_USE int ppx__unpack_chunk_result(const uint8_t *p, size_t n, ppx_chunk_result *cr);

/* One finished image of a chunk's outputs. */
typedef struct {
    ppx_shard_item it;
    uint32_t in_w, in_h, mode;
    ppx_img_stats img;
    ppx_fingerprint fp;
    int failed; /* a sidecar could not be read: a failure, not in the shard */
} ppx_out_rec;
/* Appends one record to a chunk's outputs: the image's listing index, label,
 * format, bytes (the last of them its companions', part_len: PPX_SPAN_PARTS
 * lengths), input size, mode, statistics and fingerprint. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx__pack_out_rec(ppx_buf *b, uint64_t index, int64_t label, int format,
                                   const uint8_t *data, uint64_t len, const uint64_t *part_len,
                                   uint32_t in_w, uint32_t in_h, uint32_t mode,
                                   const ppx_img_stats *st, const ppx_fingerprint *fp);
/* Reads the output records of outputs (indexes from lo to hi), sorted by
 * index, into *vp (malloc'ed, *np of them). 0, PPX_EMPI (malformed) or
 * PPX_ENOMEM. */
PPX_MUST_USE int ppx__parse_outputs(const ppx_buf *outputs, uint64_t lo, uint64_t hi,
                                    ppx_out_rec **vp, size_t *np);

#endif
