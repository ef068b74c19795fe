/* Internal interface between the codec dispatcher and each format. The
 * dispatcher (codec.c) guarantees non-NULL limits: `l`, and `o->limits`
 * of a non-NULL `o`. */
#ifndef PPX_CODEC_IMPL_H
#define PPX_CODEC_IMPL_H

#include "prepix/codec.h"

int ppx__jpeg_inspect(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_info *info,
                      ppx_err *err);
int ppx__jpeg_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                     ppx_info *info, ppx_err *err);
int ppx__jpeg_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out, ppx_err *err);

int ppx__png_inspect(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_info *info,
                     ppx_err *err);
int ppx__png_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                    ppx_info *info, ppx_err *err);
int ppx__png_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out, ppx_err *err);

int ppx__tiff_inspect(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_info *info,
                      ppx_err *err);
int ppx__tiff_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                     ppx_info *info, ppx_err *err);
int ppx__tiff_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out, ppx_err *err);

int ppx__webp_inspect(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_info *info,
                      ppx_err *err);
int ppx__webp_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                     ppx_info *info, ppx_err *err);
int ppx__webp_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out, ppx_err *err);

#endif
