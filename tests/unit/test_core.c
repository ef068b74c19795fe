#include <stdint.h>
#include <string.h>

#include "check.h"
#include "prepix/buf.h"
#include "prepix/codec.h"
#include "prepix/error.h"
#include "prepix/image.h"
#include "prepix/limits.h"

static int err_table(void)
{
    CHECK_STR(ppx_err_name(PPX_ECORRUPT), "ECORRUPT");
    CHECK_STR(ppx_strerror(PPX_ELIMIT), "image exceeds limits");
    CHECK_STR(ppx_err_name(12345), "EUNKNOWN");
    CHECK_STR(ppx_stage_name(PPX_STAGE_DECODE), "decode");
    CHECK_EQ_INT(ppx_stage_from_name("timeout"), PPX_STAGE_TIMEOUT);
    CHECK(PPX_EINVAL < 0 && PPX_EINTERNAL < PPX_EINVAL);
    return 0;
}

static int err_one_line(void)
{
    ppx_err e;
    ppx_err_clear(&e);
    int rc = ppx_err_set(&e, PPX_ETRUNC, PPX_STAGE_DECODE, "line one\nline two\n");
    CHECK_EQ_INT(rc, PPX_ETRUNC);
    CHECK_STR(e.msg, "line one line two");
    CHECK_EQ_INT(ppx_err_set(NULL, PPX_EIO, 0, "x"), PPX_EIO);
    return 0;
}

static int limits_overflow(void)
{
    ppx_limits l;
    ppx_limits_default(&l);
    l.max_width = UINT32_MAX;
    l.max_height = UINT32_MAX;
    l.max_pixels = UINT64_MAX;
    ppx_err e;
    size_t bytes = 7;
    /* 2^32-1 squared times 4 channels times 2 bytes overflows size_t. */
    CHECK_EQ_INT(ppx_limits_check(&l, UINT32_MAX, UINT32_MAX, 4, 2, &bytes, &e), PPX_ELIMIT);
    CHECK_EQ_INT(bytes, 7);
    size_t s;
    CHECK(ppx_mul_size(SIZE_MAX / 2 + 1, 2, &s) == -1);
    CHECK(ppx_add_size(SIZE_MAX, 1, &s) == -1);
    return 0;
}

static int limits_pixels(void)
{
    ppx_limits l;
    ppx_limits_default(&l);
    ppx_err e;
    size_t bytes;
    CHECK_EQ_INT(ppx_limits_check(&l, 2147483647u, 1, 3, 1, &bytes, &e), PPX_ELIMIT);
    CHECK_EQ_INT(ppx_limits_check(&l, 0, 5, 3, 1, &bytes, &e), PPX_ECORRUPT);
    l.max_pixels = 100;
    CHECK_EQ_INT(ppx_limits_check(&l, 10, 11, 3, 1, &bytes, &e), PPX_ELIMIT);
    CHECK_EQ_INT(ppx_limits_check(&l, 10, 10, 3, 2, &bytes, &e), 0);
    CHECK_EQ_INT(bytes, 600);
    return 0;
}

static int image_reuse(void)
{
    ppx_image img;
    ppx_image_init(&img);
    ppx_err e;
    CHECK_EQ_INT(ppx_image_alloc(&img, 100, 100, 3, PPX_U8, NULL, &e), 0);
    uint8_t *p = img.data;
    CHECK_EQ_INT(img.stride, 300);
    CHECK_EQ_INT(ppx_image_alloc(&img, 50, 50, 1, PPX_U16, NULL, &e), 0);
    CHECK(img.data == p); /* smaller: reused */
    CHECK_EQ_INT(img.stride, 100);
    CHECK_EQ_INT(ppx_image_alloc(&img, 5, 5, 5, PPX_U8, NULL, &e), 0); /* plain bands */
    CHECK_EQ_INT(ppx_image_alloc(&img, 5, 5, PPX_MAX_BANDS + 1, PPX_U8, NULL, &e), PPX_EINVAL);
    ppx_image_destroy(&img);
    ppx_image_destroy(NULL);
    CHECK(img.data == NULL);
    return 0;
}

static int detect_magic(void)
{
    const uint8_t jpg[] = {0xFF, 0xD8, 0xFF, 0xE0};
    const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t tif[] = {'M', 'M', 0, 42};
    const uint8_t big[] = {'I', 'I', 43, 0};
    const uint8_t bom[] = {0xFF, 0xFE, 'a', 0};
    CHECK_EQ_INT(ppx_codec_detect(jpg, sizeof jpg), PPX_FMT_JPEG);
    CHECK_EQ_INT(ppx_codec_detect(png, sizeof png), PPX_FMT_PNG);
    CHECK_EQ_INT(ppx_codec_detect(tif, sizeof tif), PPX_FMT_TIFF);
    CHECK_EQ_INT(ppx_codec_detect(big, sizeof big), PPX_FMT_TIFF);
    CHECK_EQ_INT(ppx_codec_detect(bom, sizeof bom), PPX_FMT_UNKNOWN);
    /* SOI alone is a JPEG (a cut one); one byte is nothing. */
    CHECK_EQ_INT(ppx_codec_detect(jpg, 2), PPX_FMT_JPEG);
    CHECK_EQ_INT(ppx_codec_detect(jpg, 1), PPX_FMT_UNKNOWN);
    ppx_err e;
    ppx_info info;
    CHECK_EQ_INT(ppx_codec_inspect(jpg, 0, NULL, &info, &e), PPX_EEMPTY);
    CHECK_EQ_INT(ppx_codec_inspect(bom, sizeof bom, NULL, &info, &e), PPX_EFORMAT);
    return 0;
}

/* One argument as a POSIX shell word: bare when every byte is one that no
 * shell treats specially (Python's shlex.quote set), else in single quotes
 * with each ' written '\''. */
static int shell_word(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"resize", "resize"},
        {"-w", "-w"},
        {"/a/b_c.d,e:f@g%h+i=j", "/a/b_c.d,e:f@g%h+i=j"},
        {"", "''"},
        {"resize 256 | center-crop 224", "'resize 256 | center-crop 224'"},
        {"it's", "'it'\\''s'"},
        {"'", "''\\'''"},
        {"$HOME", "'$HOME'"},
        {"a\nb", "'a\nb'"},
        {"~x", "'~x'"},
        {"#x", "'#x'"},
        {"*", "'*'"},
        {"\xff", "'\xff'"},
    };
    ppx_buf b;
    ppx_buf_init(&b);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b.len = 0;
        CHECK_EQ_INT(ppx_buf_shell_word(&b, cases[i].in), 0);
        CHECK(b.len == strlen(cases[i].out) && memcmp(b.data, cases[i].out, b.len) == 0);
    }
    /* Words append to what is there. */
    b.len = 0;
    CHECK_EQ_INT(ppx_buf_shell_word(&b, "a"), 0);
    CHECK_EQ_INT(ppx_buf_shell_word(&b, "b c"), 0);
    CHECK(b.len == 6 && memcmp(b.data, "a'b c'", 6) == 0);
    ppx_buf_destroy(&b);
    return 0;
}

PPX_TEST_MAIN(TEST(err_table), TEST(err_one_line), TEST(limits_overflow), TEST(limits_pixels),
              TEST(image_reuse), TEST(detect_magic), TEST(shell_word))
