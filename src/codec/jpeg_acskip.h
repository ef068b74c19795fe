/* DC-only decoding of progressive JPEG at 1/8 scale: the walk over the
 * scans that tells which bytes libjpeg must see, and the decode entry point
 * that tests use to compare the fast path with the whole decode.
 *
 * At 1/8 libjpeg's IDCT reads only the DC coefficient of the blocks of a
 * component it scales by 1/8 (jpeg_idct_1x1), yet a progressive file makes
 * it Huffman-decode every AC scan first. The walk hands libjpeg every
 * marker segment (SOS segments of AC scans included, so that libjpeg
 * checks and records them as it always did) and the entropy-coded data of
 * DC scans and of the other components' AC scans as they are; of an AC
 * scan of a component named by ppx__acskip_leave_out only its restart
 * markers: the data between them is left out. jpeg.c ("DC-only decoding")
 * and docs/codecs.md give the argument for why the pixels are the same. */
#ifndef PPX_CODEC_JPEG_ACSKIP_H
#define PPX_CODEC_JPEG_ACSKIP_H

#include <stddef.h>
#include <stdint.h>

#include "prepix/codec.h"
#include "prepix/error.h"

/* What ppx__acskip_next found. */
enum {
    PPX_ACSKIP_BYTES = 1, /* hand [start, end) to the decoder as they are */
    PPX_ACSKIP_RST,       /* [start, end) is a restart marker inside AC data: hand it over */
    PPX_ACSKIP_LEFT_OUT,  /* [start, end) is AC entropy-coded data that is left out */
    PPX_ACSKIP_AC_END,    /* a left-out AC scan ends here, at a marker that is not RSTn
                             (empty range; w->rsts: restart markers handed out in it) */
    PPX_ACSKIP_END        /* everything up to and including EOI has been handed out */
};

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;            /* first byte not yet handed out or left out */
    int state;             /* what starts at pos (file-local enum of jpeg_acskip.c) */
    uint32_t scans;        /* SOS segments seen, the one just before the start included */
    uint32_t ac_scans;     /* AC scans entered (their data left out) */
    uint64_t left_out;     /* entropy-coded bytes left out */
    uint32_t rsts;         /* restart markers handed out in the current left-out scan */
    int ss;                /* spectral start Ss of the last SOS seen */
    int id;                /* its first component selector */
    uint32_t leave_out[8]; /* bit id: AC scans of component id are left out */
    const char *why;       /* after a refusal: what the walk does not take (static text) */
} ppx__acskip;

/* Starts a walk over buf[0..len) at pos, the first byte after the SOS
 * segment of scan 1 (where jpeg_read_header stops); the data of scan 1 is
 * handed out. No component is left out until ppx__acskip_leave_out names
 * it. The caller keeps buf alive for the walk. */
void ppx__acskip_init(ppx__acskip *w, const uint8_t *buf, size_t len, size_t pos);

/* Leaves out the entropy-coded data of the AC scans (Ss > 0, one
 * component) of the component whose id (SOF and SOS selector) is id. */
void ppx__acskip_leave_out(ppx__acskip *w, int id);

/* The next piece of the stream: returns one of PPX_ACSKIP_* with [*start,
 * *end) (possibly empty), or PPX_EUNSUPPORTED for a stream this walk does
 * not take, with w->why and w->pos saying what and where; the caller then
 * decodes the whole file instead. It takes only what a progressive Huffman
 * file of a sane writer holds after its first scan: scans whose data runs
 * to a marker that is not a restart marker; between scans only DHT, DQT,
 * DRI and SOS segments, each starting right where the one before ends, each
 * inside the buffer; then EOI, after which no SOS or second EOI may come
 * before an SOI (an EOI that cut an AC scan short, whose loss only a
 * Huffman decode of that scan would notice). Reads only buf[0..len); each
 * byte is looked at a bounded number of times, so a whole walk is O(len). */
int ppx__acskip_next(ppx__acskip *w, size_t *start, size_t *end);

/* How ppx__jpeg_decode_mode decodes a progressive file at 1/8. */
typedef enum {
    PPX_JPEG_ACSKIP_AUTO,  /* what ppx_codec_decode does: skip where exact, else whole */
    PPX_JPEG_ACSKIP_NEVER, /* always the whole file (prepix before the fast path) */
    PPX_JPEG_ACSKIP_ONLY   /* only the fast path: PPX_EUNSUPPORTED where it does not apply,
                              its own error (no second, whole decode) where it fails */
} ppx__jpeg_acskip_mode;

/* ppx__jpeg_decode with the fast path chosen by mode; for tests and the fuzz
 * target, which compare the modes. Same contract as ppx_codec_decode for a
 * JPEG buffer; o and o->limits must be non-NULL. */
PPX_MUST_USE int ppx__jpeg_decode_mode(const uint8_t *buf, size_t len, const ppx_decode_opts *o,
                                       ppx__jpeg_acskip_mode mode, ppx_image *img, ppx_info *info,
                                       ppx_err *err);

#endif
