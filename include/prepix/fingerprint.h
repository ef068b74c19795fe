/* Fingerprints of decoded images, for finding duplicates (docs/duplicates.md).
 *
 * Two per image, computed by the worker from the pixels it decoded, before
 * the pipeline:
 *  - exact: the first 128 bits of SHA-256 over the image's geometry, channel
 *    layout and samples, so that the same pixels stored as PNG and as TIFF
 *    match, and a different image cannot be made to match by chance;
 *  - phash: imagehash's 64-bit DCT perceptual hash (`imagehash.phash`, hash
 *    size 8), bit for bit where the image decodes at full size.
 * Both are pure functions of the decoded image. */
#ifndef PREPIX_FINGERPRINT_H
#define PREPIX_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/geom.h"
#include "prepix/image.h"

#define PPX_EXACT_BYTES 16

typedef struct {
    uint8_t exact[PPX_EXACT_BYTES];
    /* Bit 63 is the lowest frequency (DC), then row-major: the order of
     * imagehash's hex string, so that "%016llx" prints what str() does. */
    uint64_t phash;
    uint8_t scale; /* 1: decoded at full size; 2, 4, 8: shrunk on load by that factor */
    uint8_t valid; /* 0: none (the image failed, or fingerprints are off) */
    /* The output's geometry record (prepix/geom.h), which travels to rank 0
     * with the fingerprints; w = 0: none. */
    ppx_geom geom;
} ppx_fingerprint;

/* Scratch of a worker (grey copy, 32x32 image, resampler, hash context),
 * reused from one image to the next. Not shared between processes. */
typedef struct ppx_fp_ctx ppx_fp_ctx;
/* 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_fp_ctx_new(ppx_fp_ctx **out);
/* Frees *c and sets it to NULL; accepts NULL. */
void ppx_fp_ctx_free(ppx_fp_ctx **c);
/* Frees the kept buffers larger than keep bytes. */
void ppx_fp_ctx_trim(ppx_fp_ctx *c, size_t keep);

/* Both fingerprints of img (U8 or U16, 1..4 channels), as decoded: its
 * orientation is not applied. scale is the decoder's shrink-on-load factor
 * (ppx_info.scale_denom), recorded in fp. 0 with *fp filled (valid 1; valid
 * 0 for a raster: other sample types or plain bands are not fingerprinted),
 * or PPX_ENOMEM / PPX_EUNSUPPORTED (message in err, stage DECODE). Safe in a
 * worker. */
PPX_MUST_USE int ppx_fingerprint_compute(ppx_fp_ctx *c, const ppx_image *img, unsigned scale,
                                         ppx_fingerprint *fp, ppx_err *err);

/* The perceptual hash of a 32x32 grey image (row-major), steps 3 to 5 of
 * imagehash's phash: 2-D DCT-II (scipy.fftpack.dct, type 2, unnormalised,
 * axis 0 then axis 1), its top-left 8x8, each bit "above the median of the
 * 64". Coefficients that are zero in exact arithmetic (|c| < 1e-6, where
 * floating-point noise would decide) count as zero, so a flat image hashes
 * to 0x8000000000000000 rather than to its rounding errors. */
uint64_t ppx_phash32(const uint8_t px[32 * 32]);

/* "%016llx" of h: imagehash's str() of the same hash. out holds 17 bytes. */
void ppx_phash_hex(uint64_t h, char out[17]);
/* Hex of the exact fingerprint, 32 digits. out holds 33 bytes. */
void ppx_exact_hex(const uint8_t exact[PPX_EXACT_BYTES], char out[33]);
/* Number of bits that differ. */
static inline int ppx_hamming64(uint64_t a, uint64_t b)
{
    return __builtin_popcountll(a ^ b);
}

/* ---- Fingerprints of a set of images (a chunk, a rank, a run) ---------- */

/* What rank 0 keeps of each output image: its fingerprints (scale 0: none
 * were taken) and its geometry record (geom.w 0: none, e.g. a chunk resumed
 * from the journal of an older prepix). */
typedef struct {
    uint64_t index; /* position in the listing */
    uint64_t phash;
    uint8_t exact[PPX_EXACT_BYTES];
    uint8_t scale;
    ppx_geom geom;
} ppx_print;

typedef struct {
    ppx_print *v;
    size_t n, cap;
} ppx_prints;

/* 1 if fp holds anything rank 0 keeps (fingerprints or a geometry record). */
static inline int ppx_fingerprint_any(const ppx_fingerprint *fp)
{
    return fp->valid || fp->geom.w;
}
/* Appends index's fingerprints (when fp->valid) and geometry record. */
PPX_MUST_USE int ppx_prints_add(ppx_prints *p, uint64_t index, const ppx_fingerprint *fp);
/* Keeps only the entries that hold fingerprints (for finding duplicates). */
void ppx_prints_keep_hashed(ppx_prints *p);
/* The entry of index in p sorted by index (ppx_prints_sort), or NULL. */
const ppx_print *ppx_prints_find(const ppx_prints *p, uint64_t index);
/* Appends all of src to dst. 0 or PPX_ENOMEM. */
PPX_MUST_USE int ppx_prints_extend(ppx_prints *dst, const ppx_prints *src);
/* Sorts by index (listing order). */
void ppx_prints_sort(ppx_prints *p);
void ppx_prints_destroy(ppx_prints *p);
/* Serialisation for MPI and the journal: a tag (PPX_PRINTS_TAG2) and a
 * count, then per image its index, phash and scale (0: no fingerprints) as
 * u64, the 16 exact bytes, then the geometry record's six doubles (their
 * IEEE bits) and w, h as u64 (prepix/buf.h's little-endian). Records
 * without the tag are the older layout (a count, no geometry), still read.
 * Unpack appends the entries of p[0..n) (untrusted) to out,
 * all or none: 0, PPX_ECORRUPT (too short, a scale other than 1/2/4/8) or
 * PPX_ENOMEM; used (may be NULL) gets the bytes read. */
PPX_MUST_USE int ppx_prints_pack(const ppx_prints *p, ppx_buf *out);
PPX_MUST_USE int ppx_prints_unpack(const uint8_t *p, size_t n, ppx_prints *out, size_t *used);

/* One image's fingerprint as part of a record between ranks (an output that
 * comes back as bytes): valid, scale, phash, exact. */
PPX_MUST_USE int ppx_fingerprint_pack(const ppx_fingerprint *fp, ppx_buf *out);
PPX_MUST_USE int ppx_fingerprint_unpack(ppx_rd *r, ppx_fingerprint *fp);

#endif
