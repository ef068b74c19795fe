/* ppx_optool: runs a pipeline on PNM/PAM images, without any codec, so that
 * tests can compare the ops with independent implementations (Pillow).
 *
 *   ppx_optool [--seed N] [--key K] [--orientation N] SPEC IN OUT [IN OUT ...]
 *       Reads IN (binary P5, P6 or P7; maxval 255 or 65535), sets its
 *       orientation metadata to N (default 1), runs SPEC with the given seed
 *       and key (default 0 and ""), and writes OUT as P5/P6/P7 (16-bit
 *       big-endian), or as PFM (Pf/PF, little-endian) after normalize. Pairs
 *       after the first reuse the same pipeline context (warm buffers).
 *   ppx_optool --hint WxH [--orientation N] SPEC
 *       Prints the shrink-on-load hint "MIN_W MIN_H" for a stored WxH image.
 *   ppx_optool --canonical SPEC     prints the canonical spec
 *   ppx_optool --fixed-size SPEC    prints "W H" or "none"
 *   ppx_optool --ops                prints the op list
 *
 * Exit 0; 1 with "ERRNAME stage: message" on stderr when an op fails;
 * 2 for a usage error or a bad spec (message on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepix/pipeline.h"

static int next_token(FILE *f, char *tok, size_t cap)
{
    int c;
    /* Skip blanks and comments. */
    for (;;) {
        c = fgetc(f);
        if (c == '#') {
            while (c != '\n' && c != EOF)
                c = fgetc(f);
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
    }
    size_t n = 0;
    while (c != EOF && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        if (n + 1 < cap)
            tok[n++] = (char)c;
        c = fgetc(f);
    }
    tok[n] = '\0';
    return n ? 0 : -1;
}

static int read_pnm(const char *path, ppx_image *img, ppx_err *err)
{
    int rc = PPX_EFORMAT;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_READ, "cannot open %s", path);
    char t[64];
    unsigned long w = 0, h = 0, depth = 0, maxval = 0;
    if (next_token(f, t, sizeof t))
        goto out;
    if (strcmp(t, "P5") == 0 || strcmp(t, "P6") == 0) {
        depth = t[1] == '5' ? 1 : 3;
        if (next_token(f, t, sizeof t) || !(w = strtoul(t, NULL, 10)) ||
            next_token(f, t, sizeof t) || !(h = strtoul(t, NULL, 10)) ||
            next_token(f, t, sizeof t) || !(maxval = strtoul(t, NULL, 10)))
            goto out;
    } else if (strcmp(t, "P7") == 0) {
        while (!next_token(f, t, sizeof t) && strcmp(t, "ENDHDR") != 0) {
            char v[64];
            if (strcmp(t, "TUPLTYPE") == 0) {
                next_token(f, v, sizeof v);
                continue;
            }
            if (next_token(f, v, sizeof v))
                goto out;
            unsigned long n = strtoul(v, NULL, 10);
            if (strcmp(t, "WIDTH") == 0)
                w = n;
            else if (strcmp(t, "HEIGHT") == 0)
                h = n;
            else if (strcmp(t, "DEPTH") == 0)
                depth = n;
            else if (strcmp(t, "MAXVAL") == 0)
                maxval = n;
        }
    } else {
        goto out;
    }
    if (w == 0 || h == 0 || depth < 1 || depth > 4 || (maxval != 255 && maxval != 65535))
        goto out;
    rc = ppx_image_alloc(img, (uint32_t)w, (uint32_t)h, (unsigned)depth,
                         maxval == 255 ? PPX_U8 : PPX_U16, NULL, err);
    if (rc)
        goto close;
    size_t n = (size_t)w * depth;
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *row = ppx_image_row(img, (uint32_t)y);
        if (fread(row, img->type, n, f) != n) {
            rc = ppx_err_set(err, PPX_ETRUNC, PPX_STAGE_READ, "%s: short pixel data", path);
            goto close;
        }
        if (img->type == PPX_U16)
            for (size_t i = 0; i < n; i++) {
                uint8_t hi = row[2 * i];
                uint16_t v = (uint16_t)(hi << 8 | row[2 * i + 1]);
                memcpy(row + 2 * i, &v, 2);
            }
    }
    rc = 0;
    goto close;
out:
    ppx_err_set(err, PPX_EFORMAT, PPX_STAGE_READ, "%s: not a binary PNM/PAM we read", path);
close:
    fclose(f);
    return rc;
}

static int write_pnm(const char *path, const ppx_image *img, ppx_err *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_WRITE, "cannot create %s", path);
    unsigned C = img->channels;
    size_t n = (size_t)img->width * C;
    int rc = 0;
    if (img->type == PPX_F32) {
        if (C != 1 && C != 3) {
            rc = ppx_err_set(err, PPX_EUNSUPPORTED, PPX_STAGE_WRITE,
                             "PFM holds 1 or 3 channels, not %u", C);
            goto out;
        }
        /* PFM: rows bottom to top; a negative scale means little-endian. */
        fprintf(f, "P%c\n%u %u\n-1.0\n", C == 1 ? 'f' : 'F', img->width, img->height);
        for (uint32_t y = img->height; y-- > 0;)
            fwrite(ppx_image_row(img, y), 4, n, f);
        goto out;
    }
    unsigned maxval = img->type == PPX_U16 ? 65535 : 255;
    if (C == 1 || C == 3)
        fprintf(f, "P%c\n%u %u\n%u\n", C == 1 ? '5' : '6', img->width, img->height, maxval);
    else
        fprintf(f, "P7\nWIDTH %u\nHEIGHT %u\nDEPTH %u\nMAXVAL %u\nTUPLTYPE %s\nENDHDR\n",
                img->width, img->height, C, maxval, C == 2 ? "GRAYSCALE_ALPHA" : "RGB_ALPHA");
    for (uint32_t y = 0; y < img->height; y++) {
        const uint8_t *row = ppx_image_row(img, y);
        if (img->type == PPX_U16) {
            for (size_t i = 0; i < n; i++) {
                uint16_t v;
                memcpy(&v, row + 2 * i, 2);
                fputc(v >> 8, f);
                fputc(v & 0xff, f);
            }
        } else {
            fwrite(row, 1, n, f);
        }
    }
out:
    if (fclose(f) && !rc)
        rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_WRITE, "cannot write %s", path);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: ppx_optool [--seed N] [--key K] [--orientation N] SPEC IN OUT ...\n"
                    "       ppx_optool --hint WxH [--orientation N] SPEC\n"
                    "       ppx_optool --canonical SPEC | --fixed-size SPEC | --ops\n");
    return 2;
}

int main(int argc, char **argv)
{
    uint64_t seed = 0;
    const char *key = "";
    int orientation = 1;
    const char *hint = NULL;
    int canonical = 0, fixed = 0;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--ops") == 0) {
            ppx_pipeline_print_ops(stdout);
            return 0;
        } else if (strcmp(argv[i], "--canonical") == 0) {
            canonical = 1;
        } else if (strcmp(argv[i], "--fixed-size") == 0) {
            fixed = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--key") == 0) {
            key = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--orientation") == 0) {
            orientation = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--hint") == 0) {
            hint = argv[++i];
        } else {
            return usage();
        }
    }
    if (i >= argc)
        return usage();
    ppx_err err;
    ppx_err_clear(&err);
    ppx_pipeline *pl = NULL;
    int rc = ppx_pipeline_parse(argv[i], &pl, &err);
    if (rc) {
        fprintf(stderr, "%s %s: %s\n", ppx_err_name(rc), ppx_stage_name(err.stage), err.msg);
        return 2;
    }
    i++;
    int status = 0;
    if (canonical) {
        printf("%s\n", ppx_pipeline_canonical(pl));
        goto done;
    }
    if (fixed) {
        uint32_t w, h;
        if (ppx_pipeline_fixed_size(pl, &w, &h))
            printf("%u %u\n", w, h);
        else
            printf("none\n");
        goto done;
    }
    if (hint) {
        unsigned long w, h;
        uint32_t mw, mh;
        if (sscanf(hint, "%lux%lu", &w, &h) != 2) {
            status = usage();
            goto done;
        }
        ppx_pipeline_decode_hint(pl, (uint32_t)w, (uint32_t)h, orientation, &mw, &mh);
        printf("%u %u\n", mw, mh);
        goto done;
    }
    if (i + 2 > argc || (argc - i) % 2) {
        status = usage();
        goto done;
    }
    ppx_pipeline_ctx *ctx = NULL;
    ppx_image img;
    ppx_image_init(&img);
    if (ppx_pipeline_ctx_new(&ctx)) {
        status = 1;
        goto done;
    }
    for (; i + 1 < argc && status == 0; i += 2) {
        ppx_image *res = NULL;
        rc = read_pnm(argv[i], &img, &err);
        if (rc == 0) {
            img.orientation = orientation;
            rc = ppx_pipeline_run(pl, ctx, &img, seed, key, &res, &err);
        }
        if (rc == 0 && ppx_pipeline_has_normalize(pl))
            rc = ppx_pipeline_normalize(pl, ctx, res, &res, &err);
        if (rc == 0)
            rc = write_pnm(argv[i + 1], res, &err);
        if (rc) {
            fprintf(stderr, "%s %s: %s\n", ppx_err_name(rc), ppx_stage_name(err.stage), err.msg);
            status = 1;
        }
    }
    ppx_image_destroy(&img);
    ppx_pipeline_ctx_free(&ctx);
done:
    ppx_pipeline_free(&pl);
    return status;
}
