/* The resume journal under OUTDIR/.prepix/: the identity of the run, and
 * one record per finished chunk (its exact statistics and failures),
 * appended and flushed after the chunk's outputs are in place. */
#ifndef PPX_SCHED_JOURNAL_H
#define PPX_SCHED_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/failures.h"
#include "prepix/fingerprint.h"
#include "prepix/stats.h"

/* The identity of a run, compared by --resume. */
typedef struct {
    char text[8192]; /* "key=value\n" lines */
} ppx_run_identity;

/* Builds the identity text from its parts. */
void ppx_identity_make(ppx_run_identity *id, const char *pipeline, const char *format, int quality,
                       uint64_t seed, uint64_t max_pixels, uint64_t listing_hash, uint64_t images,
                       uint64_t chunk_size);
/* Appends the --coco file's digest (a run without --coco records none, so
 * its journals and older ones compare equal). */
void ppx_identity_add_coco(ppx_run_identity *id, uint64_t digest);
/* The identity of a streamed run whose walk is under way (sched/stream.c):
 * listing=pending and images=pending, and the first `listed` keys of the
 * listing, whose FNV-1a (as the listing's hash) is listed_hash: every chunk
 * journaled lies within them. */
void ppx_identity_make_pending(ppx_run_identity *id, const char *pipeline, const char *format,
                               int quality, uint64_t seed, uint64_t max_pixels, uint64_t listed,
                               uint64_t listed_hash, uint64_t chunk_size);
/* 1 when id is a pending identity (its listed and listed_hash into *listed,
 * *hash; 0 and 0 when unreadable), else 0. */
PPX_MUST_USE int ppx_identity_pending(const ppx_run_identity *id, uint64_t *listed, uint64_t *hash);
/* Reads chunk_size=... from an identity text (arbitrary text: 0 if absent or
 * not a plain decimal number). */
uint64_t ppx_identity_chunk_size(const ppx_run_identity *id);
/* Names the keys whose values differ ("seed (journal \"0\", now \"1\")"),
 * into out (cap bytes, truncated). 1 if any differ, 0 if same. a is the
 * journal's identity: a version 1 journal matches a version 2 run. */
PPX_MUST_USE int ppx_identity_diff(const ppx_run_identity *a, const ppx_run_identity *b, char *out,
                                   size_t cap);

/* The journal lives in OUTDIR/.prepix, which the caller opened with
 * ppx_private_dir_open: jdir is its descriptor. Every file in it is opened
 * O_NOFOLLOW, required regular and size-capped (docs/security.md). */

/* .prepix/run: 1 if present (read into id), 0 if absent, negative on error. */
PPX_MUST_USE int ppx_journal_read_identity(int jdir, ppx_run_identity *id, ppx_err *err);
PPX_MUST_USE int ppx_journal_write_identity(int jdir, const ppx_run_identity *id, ppx_err *err);

/* What earlier attempts finished, read back by --resume. */
typedef struct {
    uint8_t *done; /* done[chunk] = 1 */
    uint64_t n_chunks;
    uint64_t chunk_size;                 /* 0: unknown, record counts are not checked */
    uint64_t n_images;                   /* with chunk_size: the listing's size */
    uint64_t chunks, images, duplicates; /* duplicates: chunks found twice */
    uint64_t ignored; /* damaged records or stretches skipped (their chunks are redone) */
    int next_attempt;
    ppx_stats stats;
    ppx_failures failures;
    ppx_prints prints;         /* fingerprints of the done chunks' images */
    uint64_t unprinted_chunks; /* done chunks whose record holds no fingerprints */
} ppx_resume_state;

/* Prepares rs for n_chunks chunks of chunk_size images (0: unknown) out of
 * images. 0, PPX_EINVAL when the three disagree, or PPX_ENOMEM; rs can be
 * given to ppx_resume_state_destroy in every case. */
PPX_MUST_USE int ppx_resume_state_init(ppx_resume_state *rs, uint64_t n_chunks, uint64_t chunk_size,
                                       uint64_t images);

/* Folds the records of one journal file's bytes p[0..n) into rs (prepared
 * by ppx_resume_state_init). The bytes are untrusted: a record that is cut
 * short, damaged (bad checksum, lengths, statistics or failures) or not one
 * this run can have written (chunk id out of range, count other than its
 * chunk's size, failures outside the chunk) is skipped and its chunk
 * redone; the records after it are still read. Memory used is bounded by
 * n, time by a few passes over it. 0, or PPX_ENOMEM. Safe anywhere. */
PPX_MUST_USE int ppx_journal_parse(const uint8_t *p, size_t n, ppx_resume_state *rs);

/* Reads every journal file of OUTDIR (see ppx_journal_parse), with the chunk
 * geometry from .prepix/run, which the caller has compared with this run. */
PPX_MUST_USE int ppx_journal_load(int jdir, uint64_t n_chunks, ppx_resume_state *rs, ppx_err *err);

/* Attempts of one OUTDIR are numbered 1..PPX_JOURNAL_MAX_ATTEMPT. */
#define PPX_JOURNAL_MAX_ATTEMPT 1000000
void ppx_resume_state_destroy(ppx_resume_state *rs);

typedef struct {
    int fd;
    ppx_buf rec;
} ppx_journal;

/* Creates .prepix/journal-<attempt>-<rank>.bin (O_EXCL: a new file) for appending. */
PPX_MUST_USE int ppx_journal_open(ppx_journal *j, int jdir, int attempt, int rank, ppx_err *err);
/* Adds a finished chunk's record to those waiting in memory; commit writes
 * them all (one write) and flushes them (fdatasync): one sync covers every
 * chunk finished since the last. The caller makes the chunks' outputs durable
 * before the commit. p: the chunk's fingerprints, or NULL when the run takes
 * none (the record then says so by having no fingerprint section). */
PPX_MUST_USE int ppx_journal_add(ppx_journal *j, uint64_t chunk, uint64_t count, const ppx_stats *s,
                                 const ppx_failures *f, const ppx_prints *p, ppx_err *err);
PPX_MUST_USE int ppx_journal_commit(ppx_journal *j, ppx_err *err);
/* The commit's work on records r (emptied) for the journal open as fd:
 * one write, then fdatasync (sched/commit.h runs it in its thread). */
PPX_MUST_USE int ppx_journal_write_records(int fd, ppx_buf *r, ppx_err *err);
/* add + commit of one record (without fingerprints). */
PPX_MUST_USE int ppx_journal_append(ppx_journal *j, uint64_t chunk, uint64_t count,
                                    const ppx_stats *s, const ppx_failures *f, ppx_err *err);
void ppx_journal_close(ppx_journal *j);

#endif
