/* Placeholder until the png codec lands. */
#include "codec/codec_impl.h"

int ppx__png_inspect(const uint8_t *buf, size_t len, const ppx_limits *l, ppx_info *info,
                      ppx_err *err)
{
    return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_DECODE, "png not built yet");
}

int ppx__png_decode(const uint8_t *buf, size_t len, const ppx_decode_opts *o, ppx_image *img,
                     ppx_info *info, ppx_err *err)
{
    return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_DECODE, "png not built yet");
}

int ppx__png_encode(const ppx_image *img, const ppx_encode_opts *o, ppx_buf *out, ppx_err *err)
{
    return ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_ENCODE, "png not built yet");
}
