/* Internal interface between the codec dispatcher and each format. The
 * dispatcher (codec.c) guarantees non-NULL limits: `l`, and `o->limits`
 * of a non-NULL `o`. */
#ifndef PPX_CODEC_IMPL_H
#define PPX_CODEC_IMPL_H

#include "prepix/error.h"

#include "prepix/codec.h"

PPX_MUST_USE int ppx__jpeg_inspect(const uint8_t *buf, size_t len, const ppx_limits *l,
                                   ppx_info *info, ppx_err *err);
PPX_MUST_USE int ppx__jpeg_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o,
                                  ppx_image *img, ppx_info *info, ppx_err *err);
PPX_MUST_USE int ppx__jpeg_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out,
                                  ppx_err *err);

PPX_MUST_USE int ppx__png_inspect(const uint8_t *buf, size_t len, const ppx_limits *l,
                                  ppx_info *info, ppx_err *err);
PPX_MUST_USE int ppx__png_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o,
                                 ppx_image *img, ppx_info *info, ppx_err *err);
PPX_MUST_USE int ppx__png_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out,
                                 ppx_err *err);
/* PNG label maps (8-bit palette or gray, not interlaced; png_label.c): decodes
 * buf into img, its facts into info and its palette into pal (n 0 for gray)
 * with libdeflate, and returns 1; returns 0, having written nothing the
 * caller may use, for any file it does not take, valid or not, which the
 * caller then decodes with libpng. Never fails on its own. */
/* ppx__png_decode without the fast path: libpng alone (tests compare the two). */
PPX_MUST_USE int ppx__png_decode_libpng(const uint8_t *buf, size_t len, const ppx_decode_opts *o,
                                        ppx_image *img, ppx_info *info, ppx_err *err);
int ppx__png_label_fast(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_image *img,
                        ppx_info *info, ppx_palette *pal);

PPX_MUST_USE int ppx__tiff_inspect(const uint8_t *buf, size_t len, const ppx_limits *l,
                                   ppx_info *info, ppx_err *err);
PPX_MUST_USE int ppx__tiff_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o,
                                  ppx_image *img, ppx_info *info, ppx_err *err);
PPX_MUST_USE int ppx__tiff_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out,
                                  ppx_err *err);

PPX_MUST_USE int ppx__webp_inspect(const uint8_t *buf, size_t len, const ppx_limits *l,
                                   ppx_info *info, ppx_err *err);
PPX_MUST_USE int ppx__webp_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o,
                                  ppx_image *img, ppx_info *info, ppx_err *err);
PPX_MUST_USE int ppx__webp_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out,
                                  ppx_err *err);

/* Shrink-on-load, one rule for JPEG (DCT scaling) and WebP (libwebp's
 * scaler), so that ppx_pipeline_decode_hint serves both: the largest 1/d
 * (d in 8, 4, 2) whose output, ceil(w/d) x ceil(h/d), still covers min_w x
 * min_h; 1 when both are 0 (no shrink) or nothing smaller covers them. A 0
 * side is unconstrained. */
unsigned ppx__shrink_denom(uint32_t w, uint32_t h, uint32_t min_w, uint32_t min_h);

#endif
