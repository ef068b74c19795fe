/* The JPEG codec on the shared corpus: every file the MANIFEST says decodes
 * does, with the MANIFEST's size; header facts of the variants; EXIF
 * orientation; and each damaged file fails with its own expected code.
 * Pixel equality with djpeg is checked by jpeg_djpeg.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prepix/codec.h"

static int read_file(const char *root, const char *rel, ppx_buf *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    b->len = 0;
    uint8_t tmp[1 << 16];
    size_t n;
    int rc = 0;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (ppx_buf_append(b, tmp, n))
            rc = -1;
    if (ferror(f))
        rc = -1;
    fclose(f);
    return rc;
}

/* Whether the large corpus is absent from the corpus folder the tests read (tests/corpus/
 * corpus_view.sh writes LARGE_CORPUS: its path, or "absent"). */
static int large_absent(const char *root)
{
    char path[4096], line[16] = "";
    snprintf(path, sizeof path, "%s/LARGE_CORPUS", root);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int absent = fgets(line, sizeof line, f) && strncmp(line, "absent", 6) == 0;
    fclose(f);
    return absent;
}

/* 1 (and says so) when rel is missing because it is only in the large corpus, which is
 * absent; a file missing from a corpus that has the large one is a failure, not a skip. */
static int large_only(const char *root, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return 0;
    }
    if (!large_absent(root))
        return 0;
    printf("SKIP: %s is only in the large corpus, which is absent\n", rel);
    return 1;
}

/* Decodes one file; 0 if it decodes at its MANIFEST size, 1 otherwise. */
static int decode_one(const char *root, const char *rel, long w, long h, ppx_buf *b, ppx_image *img)
{
    if (read_file(root, rel, b))
        return 1;
    ppx_info info, hdr;
    ppx_err e;
    ppx_err_clear(&e);
    int rc = ppx_codec_decode(b->data, b->len, NULL, img, &info, &e);
    if (rc) {
        fprintf(stderr, "%s: %s: %s\n", rel, ppx_err_name(rc), e.msg);
        return 1;
    }
    rc = ppx_codec_inspect(b->data, b->len, NULL, &hdr, &e);
    if (rc) {
        fprintf(stderr, "%s: inspect: %s: %s\n", rel, ppx_err_name(rc), e.msg);
        return 1;
    }
    if (img->width != w || img->height != h || info.width != w || info.height != h ||
        hdr.width != w || hdr.height != h) {
        fprintf(stderr, "%s: decoded %ux%u (header %ux%u), MANIFEST says %ldx%ld\n", rel,
                img->width, img->height, hdr.width, hdr.height, w, h);
        return 1;
    }
    if (img->channels != (info.channels == 1 ? 1u : 3u) || img->type != PPX_U8 ||
        info.format != PPX_FMT_JPEG || info.bits != 8) {
        fprintf(stderr, "%s: %u channels from %u components\n", rel, img->channels, info.channels);
        return 1;
    }
    return 0;
}

/* Every MANIFEST row under `prefix` whose expected behaviour is "decode OK". */
static int decode_folder(const char *prefix)
{
    REQUIRE_CORPUS(root);
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST.tsv", root);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_image img;
    ppx_image_init(&img);
    char line[8192];
    int files = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0'; /* the MANIFEST has CRLF line ends */
        char *field[10] = {0};
        int nf = 0;
        for (char *p = line; nf < 10; nf++) {
            field[nf] = p;
            char *tab = strchr(p, '\t');
            if (!tab) {
                nf++;
                break;
            }
            *tab = '\0';
            p = tab + 1;
        }
        if (nf < 10 || strncmp(field[0], prefix, strlen(prefix)) != 0 ||
            strcmp(field[9], "decode OK") != 0)
            continue;
        files++;
        bad += decode_one(root, field[0], atol(field[3]), atol(field[4]), &b, &img);
    }
    fclose(f);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    printf("%d files under %s, %d failed%s\n", files, prefix, bad,
           large_absent(root) ? " (small corpus only: the large corpus is absent)" : "");
    CHECK(files > 0);
    CHECK_EQ_INT(bad, 0);
    return 0;
}

static int decode_jpeg_dir(void)
{
    return decode_folder("jpeg/");
}

static int decode_variants_dir(void)
{
    return decode_folder("jpeg-variants/");
}

static int fuzz_seed(void)
{
    REQUIRE_CORPUS(root);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_image img;
    ppx_image_init(&img);
    CHECK_EQ_INT(decode_one(root, "bad/fuzz-seeds/afl__not_kitty.jpg", 32, 32, &b, &img), 0);
    CHECK_EQ_INT(decode_one(root, "bad/misc/video001_jpeg_named.png", 150, 103, &b, &img), 0);
    if (!large_only(root, "bad/misc/jpeg_named.png"))
        CHECK_EQ_INT(decode_one(root, "bad/misc/jpeg_named.png", 640, 427, &b, &img), 0);
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

static int inspect_file(const char *root, const char *rel, ppx_info *info)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err e;
    int rc = read_file(root, rel, &b) ? -1 : ppx_codec_inspect(b.data, b.len, NULL, info, &e);
    if (rc)
        fprintf(stderr, "%s: %s %s\n", rel, ppx_err_name(rc), rc == -1 ? "" : e.msg);
    ppx_buf_destroy(&b);
    return rc;
}

/* Header facts that `prepix inspect` reports, on files made to show them. */
static int header_facts(void)
{
    REQUIRE_CORPUS(root);
    static const struct {
        const char *file;
        unsigned channels;
        ppx_colorspace cs;
        int progressive, arithmetic, has_icc;
    } cases[] = {
        {"jpeg-variants/storm_sub420.jpg", 3, PPX_CS_YCBCR, 0, 0, 0},
        {"jpeg-variants/storm_progressive.jpg", 3, PPX_CS_YCBCR, 1, 0, 0},
        {"jpeg-variants/china_arithmetic.jpg", 3, PPX_CS_YCBCR, 0, 1, 1},
        {"jpeg-variants/china_arithmetic_progressive.jpg", 3, PPX_CS_YCBCR, 1, 1, 1},
        {"jpeg-variants/china_icc216k_multichunk.jpg", 3, PPX_CS_YCBCR, 0, 0, 1},
        {"jpeg-variants/china_no_app_markers.jpg", 3, PPX_CS_YCBCR, 0, 0, 0},
        {"jpeg-variants/storm_grayscale_lossless.jpg", 1, PPX_CS_GRAY, 0, 0, 0},
        {"jpeg-variants/storm_rgb_components.jpg", 3, PPX_CS_RGB, 0, 0, 0},
        {"jpeg-variants/storm_cmyk.jpg", 4, PPX_CS_YCCK, 0, 0, 0},
        {"jpeg-variants/storm_cmyk_icc187k.jpg", 4, PPX_CS_YCCK, 0, 0, 1},
        {"jpeg-variants/storm_cmyk_pil.jpg", 4, PPX_CS_CMYK, 0, 0, 0},
        /* The same kinds in the small corpus (tests/corpus/make_small_corpus.py). */
        {"jpeg/go-src__video-001.q50.420.jpeg", 3, PPX_CS_YCBCR, 0, 0, 0},
        {"jpeg/go-src__video-001.progressive.jpeg", 3, PPX_CS_YCBCR, 1, 0, 0},
        {"jpeg-variants/video001_arithmetic.jpg", 3, PPX_CS_YCBCR, 0, 1, 0},
        {"jpeg-variants/video001_arithmetic_progressive.jpg", 3, PPX_CS_YCBCR, 1, 1, 0},
        {"jpeg-variants/video001_icc70k_multichunk.jpg", 3, PPX_CS_YCBCR, 0, 0, 1},
        {"jpeg-variants/video001_no_app_markers.jpg", 3, PPX_CS_YCBCR, 0, 0, 0},
        {"jpeg-variants/video001_grayscale.jpg", 1, PPX_CS_GRAY, 0, 0, 0},
        {"jpeg-variants/video001_rgb_components.jpg", 3, PPX_CS_RGB, 0, 0, 0},
        {"jpeg-variants/video001_cmyk_pil.jpg", 4, PPX_CS_CMYK, 0, 0, 0},
        {"jpeg-variants/video001_ycck.jpg", 4, PPX_CS_YCCK, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (large_only(root, cases[i].file))
            continue;
        ppx_info info;
        CHECK_EQ_INT(inspect_file(root, cases[i].file, &info), 0);
        printf("%s: %u %s prog %d arith %d icc %d %s\n", cases[i].file, info.channels,
               ppx_colorspace_name(info.cs), info.progressive, info.arithmetic, info.has_icc,
               info.compression);
        CHECK_EQ_INT(info.channels, cases[i].channels);
        CHECK_EQ_INT(info.cs, cases[i].cs);
        CHECK_EQ_INT(info.progressive, cases[i].progressive);
        CHECK_EQ_INT(info.arithmetic, cases[i].arithmetic);
        CHECK_EQ_INT(info.has_icc, cases[i].has_icc);
        CHECK_STR(info.compression, cases[i].arithmetic ? "arithmetic" : "huffman");
    }
    return 0;
}

static int orientation(void)
{
    REQUIRE_CORPUS(root);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_image img;
    ppx_image_init(&img);
    for (int n = 1; n <= 8; n++) {
        char rel[128];
        snprintf(rel, sizeof rel, "jpeg-variants/rocket_exif_orientation_%d.jpg", n);
        CHECK_EQ_INT(read_file(root, rel, &b), 0);
        ppx_info info;
        ppx_err e;
        CHECK_EQ_INT(ppx_codec_decode(b.data, b.len, NULL, &img, &info, &e), 0);
        CHECK_EQ_INT(img.orientation, n);
        CHECK_EQ_INT(info.orientation, n);
        /* Reported, not applied: the stored frame comes out. */
        CHECK_EQ_INT(img.width, 640);
        CHECK_EQ_INT(img.height, 427);
        CHECK_EQ_INT(inspect_file(root, rel, &info), 0);
        CHECK_EQ_INT(info.orientation, n);
    }
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

/* A damaged or foreign file fails with exactly `code`, a message holding
 * `needle`, at stage decode; 0 means it must decode. */
static int expect(const char *rel, int code, const char *needle)
{
    REQUIRE_CORPUS(root);
    if (large_only(root, rel))
        return PPX_SKIP;
    ppx_buf b;
    ppx_buf_init(&b);
    CHECK_EQ_INT(read_file(root, rel, &b), 0);
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    ppx_err_clear(&e);
    ppx_info info;
    int rc = ppx_codec_decode(b.data, b.len, NULL, &img, &info, &e);
    printf("%s: %s: %s\n", rel, ppx_err_name(rc), e.msg);
    CHECK_EQ_INT(rc, code);
    if (code) {
        CHECK_EQ_INT(e.stage, PPX_STAGE_DECODE);
        CHECK(e.msg[0] != '\0' && strchr(e.msg, '\n') == NULL);
        if (needle && !strstr(e.msg, needle)) {
            fprintf(stderr, "message lacks \"%s\"\n", needle);
            return 1;
        }
    }
    /* The header reader must not crash on it either. */
    rc = ppx_codec_inspect(b.data, b.len, NULL, &info, &e);
    printf("inspect: %s\n", ppx_err_name(rc));
    ppx_image_destroy(&img);
    ppx_buf_destroy(&b);
    return 0;
}

#define BAD(name, file, code, needle)                                                              \
    static int name(void)                                                                          \
    {                                                                                              \
        return expect(file, code, needle);                                                         \
    }

BAD(bogus_dqt_table_id, "bad/jpeg/bogus_dqt_table_id.jpg", PPX_ECORRUPT, "Bogus DQT index 15")
BAD(bogus_sampling_5x5, "bad/jpeg/bogus_sampling_5x5.jpg", PPX_ECORRUPT, "Bogus sampling factors")
/* The desync shows as stray bytes before the next restart marker. */
BAD(restart_corrupt_huffman, "bad/jpeg/china_restart_corrupt_huffman.jpg", PPX_ECORRUPT,
    "extraneous bytes before marker 0xd7")
BAD(truncated_50pct, "bad/jpeg/china_truncated_50pct.jpg", PPX_ETRUNC,
    "Premature end of JPEG file after 98326 bytes")
BAD(truncated_in_headers, "bad/jpeg/china_truncated_in_headers.jpg", PPX_ETRUNC,
    "Premature end of JPEG file after 2153 bytes")
/* Nine components: no colour space to convert from. */
BAD(gdk_cve_2017_2862, "bad/jpeg/gdk-pixbuf__CVE-2017-2862.jpg", PPX_EUNSUPPORTED, "9 components")
BAD(gdk_bug775697, "bad/jpeg/gdk-pixbuf__bug775697.jpg", PPX_ECORRUPT,
    "Quantization table 0x00 was not defined")
BAD(gdk_premature_end, "bad/jpeg/gdk-pixbuf__premature-end.jpg", PPX_ETRUNC,
    "Premature end of JPEG file")
BAD(height_zero_dnl, "bad/jpeg/height_zero_dnl.jpg", PPX_ECORRUPT,
    "Empty JPEG image (DNL not supported)")
BAD(skimage_truncated, "bad/jpeg/skimage__truncated.jpg", PPX_ETRUNC, "Premature end")
/* A lone SOI is a JPEG cut short, not "not a JPEG". */
BAD(soi_only, "bad/jpeg/soi_only.jpg", PPX_ETRUNC, "Premature end of JPEG file after 2 bytes")
BAD(storm_eoi_in_middle, "bad/jpeg/storm_eoi_in_middle.jpg", PPX_ECORRUPT,
    "premature end of data segment")
BAD(unsupported_12bit, "bad/jpeg/unsupported_12bit_sof1.jpg", PPX_EUNSUPPORTED,
    "12-bit JPEG is not supported")
BAD(unsupported_lossless, "bad/jpeg/unsupported_lossless_sof3.jpg", PPX_EUNSUPPORTED,
    "lossless JPEG (SOF3) is not supported")
BAD(misc_elf, "bad/misc/elf_binary.jpg", PPX_EFORMAT, "not a JPEG")
BAD(misc_empty, "bad/misc/empty.png", PPX_EEMPTY, "0 bytes")
/* The message names no byte of the file (a report must not leak them). */
BAD(misc_gzip, "bad/misc/gzipped_jpeg.jpg", PPX_EFORMAT, "not a JPEG, PNG, TIFF or WebP file")
BAD(misc_jpeg_named_png, "bad/misc/jpeg_named.png", 0, NULL)
BAD(misc_mp4, "bad/misc/mp4_video.tif", PPX_EFORMAT, "not a JPEG")
BAD(misc_random, "bad/misc/random_4KiB.jpg", PPX_EFORMAT, "not a JPEG")
BAD(misc_text, "bad/misc/text_file.jpg", PPX_EFORMAT, "not a JPEG")
BAD(misc_utf16, "bad/misc/utf16_bom_text.tif", PPX_EFORMAT, "not a JPEG, PNG, TIFF or WebP file")

/* The same kinds of damage in the small corpus, made from a BSD-licensed photo
 * (tests/corpus/make_small_corpus.py), so that a fresh clone checks each of them. */
BAD(made_bogus_dqt_table_id, "bad/jpeg/video001_bogus_dqt_table_id.jpg", PPX_ECORRUPT,
    "Bogus DQT index 15")
BAD(made_bogus_sampling_5x5, "bad/jpeg/video001_bogus_sampling_5x5.jpg", PPX_ECORRUPT,
    "Bogus sampling factors")
BAD(made_restart_corrupt_huffman, "bad/jpeg/video001_restart_corrupt_huffman.jpg", PPX_ECORRUPT,
    "extraneous bytes before marker 0xd1")
BAD(made_truncated_50pct, "bad/jpeg/video001_truncated_50pct.jpg", PPX_ETRUNC,
    "Premature end of JPEG file after 2953 bytes")
BAD(made_truncated_in_headers, "bad/jpeg/video001_truncated_in_headers.jpg", PPX_ETRUNC,
    "Premature end of JPEG file after 589 bytes")
BAD(made_nine_components, "bad/jpeg/video001_nine_components.jpg", PPX_EUNSUPPORTED, "9 components")
BAD(made_height_zero_dnl, "bad/jpeg/video001_height_zero_dnl.jpg", PPX_ECORRUPT,
    "Empty JPEG image (DNL not supported)")
BAD(made_eoi_in_middle, "bad/jpeg/video001_eoi_in_middle.jpg", PPX_ECORRUPT,
    "premature end of data segment")
BAD(made_12bit, "bad/jpeg/video001_unsupported_12bit_sof1.jpg", PPX_EUNSUPPORTED,
    "12-bit JPEG is not supported")
BAD(made_lossless, "bad/jpeg/video001_unsupported_lossless_sof3.jpg", PPX_EUNSUPPORTED,
    "lossless JPEG (SOF3) is not supported")
BAD(made_gzip, "bad/misc/video001_gzipped_jpeg.jpg", PPX_EFORMAT,
    "not a JPEG, PNG, TIFF or WebP file")
BAD(made_jpeg_named_png, "bad/misc/video001_jpeg_named.png", 0, NULL)

PPX_TEST_MAIN(TEST(decode_jpeg_dir), TEST(decode_variants_dir), TEST(fuzz_seed), TEST(header_facts),
              TEST(orientation), TEST(bogus_dqt_table_id), TEST(bogus_sampling_5x5),
              TEST(restart_corrupt_huffman), TEST(truncated_50pct), TEST(truncated_in_headers),
              TEST(gdk_cve_2017_2862), TEST(gdk_bug775697), TEST(gdk_premature_end),
              TEST(height_zero_dnl), TEST(skimage_truncated), TEST(soi_only),
              TEST(storm_eoi_in_middle), TEST(unsupported_12bit), TEST(unsupported_lossless),
              TEST(misc_elf), TEST(misc_empty), TEST(misc_gzip), TEST(misc_jpeg_named_png),
              TEST(misc_mp4), TEST(misc_random), TEST(misc_text), TEST(misc_utf16),
              TEST(made_bogus_dqt_table_id), TEST(made_bogus_sampling_5x5),
              TEST(made_restart_corrupt_huffman), TEST(made_truncated_50pct),
              TEST(made_truncated_in_headers), TEST(made_nine_components),
              TEST(made_height_zero_dnl), TEST(made_eoi_in_middle), TEST(made_12bit),
              TEST(made_lossless), TEST(made_gzip), TEST(made_jpeg_named_png))
