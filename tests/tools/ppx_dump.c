/* ppx_dump FILE [MIN_W MIN_H]: decodes FILE with prepix's codecs and writes
 * the pixels to stdout as PNM (P5 gray, P6 RGB) or PAM (P7, 2 or 4 channels),
 * 16-bit samples big-endian as the formats require. Lets tests compare our
 * decoders with independent ones (djpeg -pnm, Pillow, ImageMagick).
 * Exit 0, or 1 with "ERRNAME stage: message" on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/prepix.h"
#include "prepix/tar_npy.h"

static int read_all(const char *path, ppx_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (ppx_buf_append(b, tmp, n))
            break;
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    int npy = argc > 1 && strcmp(argv[1], "--npy") == 0;
    if (npy) {
        argv++;
        argc--;
    }
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: ppx_dump [--npy] FILE [MIN_W MIN_H]\n");
        return 2;
    }
    ppx_buf b;
    ppx_buf_init(&b);
    if (read_all(argv[1], &b)) {
        perror(argv[1]);
        return 1;
    }
    ppx_decode_opts o = {0};
    if (argc == 4) {
        o.min_width = (uint32_t)strtoul(argv[2], NULL, 10);
        o.min_height = (uint32_t)strtoul(argv[3], NULL, 10);
    }
    ppx_image img;
    ppx_image_init(&img);
    ppx_info info;
    ppx_err err;
    ppx_err_clear(&err);
    int rc = ppx_codec_decode(b.data, b.len, &o, &img, &info, &err);
    if (rc) {
        fprintf(stderr, "%s %s: %s\n", ppx_err_name(rc), ppx_stage_name(err.stage), err.msg);
        /* Freed so that LeakSanitizer runs over error paths report only codec leaks. */
        ppx_image_destroy(&img);
        ppx_buf_destroy(&b);
        return 1;
    }
    if (npy) {
        /* H x W x C in the decoded sample type, little-endian as on every
         * host these tests run on (numpy reads the descr). */
        static const struct {
            ppx_sample t;
            const char *descr;
        } dt[] = {{PPX_U8, "|u1"},  {PPX_U16, "<u2"}, {PPX_U32, "<u4"}, {PPX_I8, "|i1"},
                  {PPX_I16, "<i2"}, {PPX_I32, "<i4"}, {PPX_F32, "<f4"}};
        const char *descr = "|u1";
        for (size_t i = 0; i < sizeof dt / sizeof dt[0]; i++)
            if (dt[i].t == img.type)
                descr = dt[i].descr;
        ppx_buf h;
        ppx_buf_init(&h);
        uint64_t shape[3] = {img.height, img.width, img.channels};
        if (ppx_npy_header(&h, descr, shape, 3) == 0)
            fwrite(h.data, 1, h.len, stdout);
        ppx_buf_destroy(&h);
        size_t row = (size_t)img.width * img.channels * ppx_sample_size(img.type);
        for (uint32_t y = 0; y < img.height; y++)
            fwrite(ppx_image_row(&img, y), 1, row, stdout);
        fprintf(stderr, "%s %ux%u %s bands %u plain %d narrowed %llu orientation %d\n",
                ppx_format_name(info.format), img.width, img.height, ppx_sample_name(img.type),
                img.channels, img.plain_bands, (unsigned long long)info.narrowed, img.orientation);
        ppx_image_destroy(&img);
        ppx_buf_destroy(&b);
        return 0;
    }
    unsigned maxval = img.type == PPX_U16 ? 65535 : 255;
    if (img.channels == 1 || img.channels == 3)
        printf("P%c\n%u %u\n%u\n", img.channels == 1 ? '5' : '6', img.width, img.height, maxval);
    else
        printf("P7\nWIDTH %u\nHEIGHT %u\nDEPTH %u\nMAXVAL %u\nTUPLTYPE %s\nENDHDR\n", img.width,
               img.height, img.channels, maxval,
               img.channels == 2 ? "GRAYSCALE_ALPHA" : "RGB_ALPHA");
    size_t row = (size_t)img.width * img.channels;
    uint8_t *out = malloc(row * 2);
    for (uint32_t y = 0; y < img.height; y++) {
        const uint8_t *p = ppx_image_row(&img, y);
        if (img.type == PPX_U16) {
            const uint16_t *s = (const uint16_t *)p;
            for (size_t i = 0; i < row; i++) {
                out[2 * i] = (uint8_t)(s[i] >> 8);
                out[2 * i + 1] = (uint8_t)s[i];
            }
            fwrite(out, 2, row, stdout);
        } else {
            fwrite(p, 1, row, stdout);
        }
    }
    free(out);
    fprintf(stderr, "%s %ux%u scale 1/%u orientation %d\n", ppx_format_name(info.format), img.width,
            img.height, info.scale_denom, img.orientation);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}
