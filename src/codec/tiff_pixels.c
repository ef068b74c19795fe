/* TIFF sample rows to ppx_image pixels; see tiff_pixels.h. */
#include "codec/tiff_pixels.h"

#include <math.h>
#include <string.h>

/* Sample i of a row. Rows start on a byte and 8 % bps == 0 for sub-byte
 * depths, so a sample never straddles two bytes. */
static inline unsigned sample_at(const uint8_t *row, unsigned bps, size_t i)
{
    if (bps == 8)
        return row[i];
    if (bps == 16) {
        uint16_t v;
        memcpy(&v, row + 2 * i, 2); /* rows of a tile or strip need not be 2-aligned */
        return v;
    }
    size_t bit = i * bps;
    unsigned shift = 8 - bps - (unsigned)(bit & 7);
    return (row[bit >> 3] >> shift) & ((1u << bps) - 1);
}

/* Sample i of a row of samples of bps bits (1..32) packed MSB first. The
 * row holds every bit of its last sample, so no byte past it is read. */
static inline uint32_t bits_at(const uint8_t *row, unsigned bps, size_t i)
{
    size_t bit = i * bps;
    const uint8_t *b = row + (bit >> 3);
    unsigned need = (unsigned)(bit & 7) + bps, nbytes = (need + 7) / 8;
    uint64_t v = 0;
    for (unsigned k = 0; k < nbytes; k++)
        v = v << 8 | b[k];
    v >>= nbytes * 8 - need;
    return (uint32_t)(v & ((1ull << bps) - 1));
}

/* IEEE half precision to single: every half is exactly a float. */
static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, f;
    if (e == 0) {
        float v = ldexpf((float)m, -24); /* zero and subnormals */
        return s ? -v : v;
    }
    if (e == 31)
        f = s | 0x7f800000u | m << 13; /* infinities and NaNs, payload kept */
    else
        f = s | (e + 112) << 23 | m << 13;
    float v;
    memcpy(&v, &f, 4);
    return v;
}

ppx_sample ppx__tiff_px_raw_type(unsigned sf, unsigned bps)
{
    if (sf == 3)
        return PPX_F32;
    if (sf == 2)
        return bps <= 8 ? PPX_I8 : bps <= 16 ? PPX_I16 : PPX_I32;
    return bps <= 8 ? PPX_U8 : bps <= 16 ? PPX_U16 : PPX_U32;
}

/* One raw sample, its value kept. *changed counts float64 narrowed. */
static inline void raw_sample(const ppx__tiff_px *p, const uint8_t *src, size_t i, uint8_t *d,
                              uint64_t *changed)
{
    const unsigned bps = p->bps;
    if (p->sformat == 3) {
        float f;
        if (bps == 32) {
            memcpy(&f, src + 4 * i, 4);
        } else if (bps == 16) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            f = half_to_float(h);
        } else {
            double v;
            memcpy(&v, src + 8 * i, 8);
            f = (float)v;
            if ((double)f != v && !isnan(v))
                (*changed)++;
        }
        memcpy(d, &f, 4);
        return;
    }
    uint32_t v;
    if (bps == 8) {
        v = src[i];
    } else if (bps == 16) {
        uint16_t t;
        memcpy(&t, src + 2 * i, 2);
        v = t;
    } else if (bps == 32) {
        memcpy(&v, src + 4 * i, 4);
    } else {
        v = bits_at(src, bps, i);
        if (p->sformat == 2 && bps < 32 && (v >> (bps - 1)) & 1)
            v |= ~(uint32_t)0 << bps; /* sign-extend */
    }
    switch (ppx__tiff_px_raw_type(p->sformat, bps)) {
    case PPX_U8:
    case PPX_I8: {
        uint8_t t = (uint8_t)v;
        memcpy(d, &t, 1);
        break;
    }
    case PPX_U16:
    case PPX_I16: {
        uint16_t t = (uint16_t)v;
        memcpy(d, &t, 2);
        break;
    }
    default:
        memcpy(d, &v, 4);
        break;
    }
}

static uint64_t raw_row(const ppx__tiff_px *p, unsigned plane, const uint8_t *src, uint32_t n,
                        uint8_t *dst)
{
    const size_t os = ppx_sample_size(p->out_type), ps = (size_t)p->out_ch * os;
    uint64_t changed = 0;
    if (p->separate) {
        for (uint32_t x = 0; x < n; x++)
            raw_sample(p, src, x, dst + x * ps + plane * os, &changed);
        return changed;
    }
    size_t i = 0;
    for (uint32_t x = 0; x < n; x++)
        for (unsigned s = 0; s < p->spp; s++, i++)
            raw_sample(p, src, i, dst + x * ps + s * os, &changed);
    return changed;
}

int ppx__tiff_px_plane_used(const ppx__tiff_px *p, unsigned plane)
{
    if (p->raw)
        return plane < p->spp;
    return plane < p->ncolor || (p->alpha >= 0 && plane == (unsigned)p->alpha);
}

int ppx__tiff_px_is_copy(const ppx__tiff_px *p)
{
    if (p->raw)
        return !p->separate && (p->bps == 8 || p->bps == 16 || p->bps == 32) &&
               ppx_sample_size(p->out_type) * 8 == p->bps;
    if (p->separate || (p->bps != 8 && p->bps != 16))
        return 0;
    if (p->kind != PPX__TIFF_GRAY && p->kind != PPX__TIFF_RGB)
        return 0;
    unsigned kept = p->ncolor + (p->alpha >= 0);
    return p->spp == kept && (p->alpha < 0 || (unsigned)p->alpha == p->ncolor);
}

/* One sample s of every pixel: writes (or, for K, combines into) the output. */
static void put_sample8(const ppx__tiff_px *p, unsigned s, const uint8_t *src, size_t first,
                        size_t step, uint32_t n, uint8_t *dst)
{
    const unsigned ch = p->out_ch, bps = p->bps;
    const unsigned maxv = (1u << bps) - 1;
    /* 1-bit x255, 2-bit x85, 4-bit x17, 8-bit x1: exact 0..255. */
    const unsigned mul = bps < 8 ? 255 / maxv : 1;
    size_t i = first;
    if (p->alpha >= 0 && s == (unsigned)p->alpha) {
        if (bps == 16) /* only beside a 16-bit palette index, whose output is 8-bit */
            for (uint32_t x = 0; x < n; x++, i += step)
                dst[(size_t)x * ch + ch - 1] = (uint8_t)((sample_at(src, bps, i) + 128) / 257);
        else
            for (uint32_t x = 0; x < n; x++, i += step)
                dst[(size_t)x * ch + ch - 1] = (uint8_t)(sample_at(src, bps, i) * mul);
        return;
    }
    switch (p->kind) {
    case PPX__TIFF_GRAY:
        for (uint32_t x = 0; x < n; x++, i += step)
            dst[(size_t)x * ch] = (uint8_t)(sample_at(src, bps, i) * mul);
        break;
    case PPX__TIFF_GRAY_INV:
        for (uint32_t x = 0; x < n; x++, i += step)
            dst[(size_t)x * ch] = (uint8_t)((maxv - sample_at(src, bps, i)) * mul);
        break;
    case PPX__TIFF_RGB:
        for (uint32_t x = 0; x < n; x++, i += step)
            dst[(size_t)x * ch + s] = (uint8_t)(sample_at(src, bps, i) * mul);
        break;
    case PPX__TIFF_CMYK:
        if (s < 3) {
            for (uint32_t x = 0; x < n; x++, i += step)
                dst[(size_t)x * ch + s] = (uint8_t)(sample_at(src, bps, i) * mul);
        } else {
            /* R = (255 - C) * (255 - K) / 255, rounded (as Pillow's and
             * libjpeg-turbo's CMYK to RGB, without colour management). */
            for (uint32_t x = 0; x < n; x++, i += step) {
                unsigned nk = 255 - sample_at(src, bps, i) * mul;
                uint8_t *d = dst + (size_t)x * ch;
                for (unsigned c = 0; c < 3; c++)
                    d[c] = (uint8_t)(((255u - d[c]) * nk + 127) / 255);
            }
        }
        break;
    case PPX__TIFF_PALETTE:
        for (uint32_t x = 0; x < n; x++, i += step)
            memcpy(dst + (size_t)x * ch, p->lut + 3 * (size_t)sample_at(src, bps, i), 3);
        break;
    }
}

static void put_sample16(const ppx__tiff_px *p, unsigned s, const uint8_t *src, size_t first,
                         size_t step, uint32_t n, uint8_t *dst8)
{
    const unsigned ch = p->out_ch;
    uint16_t *dst = (uint16_t *)(void *)dst8; /* image rows are 2-aligned (malloc, even stride) */
    size_t i = first;
    if (p->alpha >= 0 && s == (unsigned)p->alpha) {
        for (uint32_t x = 0; x < n; x++, i += step)
            dst[(size_t)x * ch + ch - 1] = (uint16_t)sample_at(src, 16, i);
        return;
    }
    switch (p->kind) {
    case PPX__TIFF_GRAY:
        for (uint32_t x = 0; x < n; x++, i += step)
            dst[(size_t)x * ch] = (uint16_t)sample_at(src, 16, i);
        break;
    case PPX__TIFF_GRAY_INV:
        for (uint32_t x = 0; x < n; x++, i += step)
            dst[(size_t)x * ch] = (uint16_t)(65535u - sample_at(src, 16, i));
        break;
    case PPX__TIFF_RGB:
        for (uint32_t x = 0; x < n; x++, i += step)
            dst[(size_t)x * ch + s] = (uint16_t)sample_at(src, 16, i);
        break;
    case PPX__TIFF_CMYK:
        if (s < 3) {
            for (uint32_t x = 0; x < n; x++, i += step)
                dst[(size_t)x * ch + s] = (uint16_t)sample_at(src, 16, i);
        } else {
            for (uint32_t x = 0; x < n; x++, i += step) {
                uint32_t nk = 65535u - sample_at(src, 16, i);
                uint16_t *d = dst + (size_t)x * ch;
                /* 65535^2 + 32767 < 2^32 */
                for (unsigned c = 0; c < 3; c++)
                    d[c] = (uint16_t)(((65535u - d[c]) * nk + 32767u) / 65535u);
            }
        }
        break;
    case PPX__TIFF_PALETTE:
        break; /* palettes always give U8 */
    }
}

uint64_t ppx__tiff_px_row(const ppx__tiff_px *p, unsigned plane, const uint8_t *src, uint32_t n,
                          uint8_t *dst)
{
    if (ppx__tiff_px_is_copy(p)) {
        memcpy(dst, src, (size_t)n * p->spp * (p->bps / 8));
        return 0;
    }
    if (p->raw)
        return raw_row(p, plane, src, n, dst);
    void (*put)(const ppx__tiff_px *, unsigned, const uint8_t *, size_t, size_t, uint32_t,
                uint8_t *) = p->out_type == PPX_U16 ? put_sample16 : put_sample8;
    if (p->separate) {
        if (ppx__tiff_px_plane_used(p, plane))
            put(p, plane, src, 0, 1, n, dst);
        return 0;
    }
    /* Colour samples in order (K after C, M, Y), then alpha. */
    for (unsigned s = 0; s < p->ncolor; s++)
        put(p, s, src, s, p->spp, n, dst);
    if (p->alpha >= 0)
        put(p, (unsigned)p->alpha, src, (size_t)p->alpha, p->spp, n, dst);
    return 0;
}

void ppx__tiff_px_palette(const uint16_t *r, const uint16_t *g, const uint16_t *b, unsigned bps,
                          uint8_t *lut)
{
    size_t n = (size_t)1 << bps;
    int eight = 1;
    for (size_t i = 0; i < n && eight; i++)
        eight = r[i] < 256 && g[i] < 256 && b[i] < 256;
    unsigned shift = eight ? 0 : 8;
    for (size_t i = 0; i < n; i++) {
        lut[3 * i] = (uint8_t)(r[i] >> shift);
        lut[3 * i + 1] = (uint8_t)(g[i] >> shift);
        lut[3 * i + 2] = (uint8_t)(b[i] >> shift);
    }
}

void ppx__tiff_px_unpremultiply(ppx_image *img)
{
    const unsigned ch = img->channels, nc = ch - 1;
    for (uint32_t y = 0; y < img->height; y++) {
        if (img->type == PPX_U16) {
            uint16_t *px = (uint16_t *)(void *)ppx_image_row(img, y);
            for (uint32_t x = 0; x < img->width; x++, px += ch) {
                uint32_t a = px[nc];
                if (a == 0 || a == 65535)
                    continue;
                for (unsigned c = 0; c < nc; c++) {
                    uint32_t v = (px[c] * 65535u + a / 2) / a;
                    px[c] = (uint16_t)(v > 65535 ? 65535 : v);
                }
            }
        } else {
            uint8_t *px = ppx_image_row(img, y);
            for (uint32_t x = 0; x < img->width; x++, px += ch) {
                unsigned a = px[nc];
                if (a == 0 || a == 255)
                    continue;
                for (unsigned c = 0; c < nc; c++) {
                    unsigned v = (px[c] * 255u + a / 2) / a;
                    px[c] = (uint8_t)(v > 255 ? 255 : v);
                }
            }
        }
    }
}
