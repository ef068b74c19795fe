/* Placeholder until the pipeline lands: accepts only the empty spec. */
#include <stdlib.h>
#include <string.h>

#include "prepix/pipeline.h"

struct ppx_pipeline {
    int n;
};
struct ppx_pipeline_ctx {
    int unused;
};

int ppx_pipeline_parse(const char *spec, ppx_pipeline **out, ppx_err *err)
{
    if (spec && spec[strspn(spec, " \t\n")])
        return ppx_err_set(err, PPX_ESPEC, PPX_STAGE_NONE, "pipelines are not built yet");
    *out = calloc(1, sizeof **out);
    return *out ? 0 : PPX_ENOMEM;
}

void ppx_pipeline_free(ppx_pipeline **pl)
{
    if (pl) {
        free(*pl);
        *pl = NULL;
    }
}

const char *ppx_pipeline_canonical(const ppx_pipeline *pl)
{
    return "";
}

int ppx_pipeline_length(const ppx_pipeline *pl)
{
    return 0;
}

int ppx_pipeline_has_normalize(const ppx_pipeline *pl)
{
    return 0;
}

int ppx_pipeline_is_random(const ppx_pipeline *pl)
{
    return 0;
}

void ppx_pipeline_decode_hint(const ppx_pipeline *pl, uint32_t src_w, uint32_t src_h,
                              int orientation, uint32_t *min_w, uint32_t *min_h)
{
    *min_w = 0;
    *min_h = 0;
}

int ppx_pipeline_ctx_new(ppx_pipeline_ctx **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : PPX_ENOMEM;
}

void ppx_pipeline_ctx_free(ppx_pipeline_ctx **ctx)
{
    if (ctx) {
        free(*ctx);
        *ctx = NULL;
    }
}

int ppx_pipeline_run(const ppx_pipeline *pl, ppx_pipeline_ctx *ctx, ppx_image *img,
                     uint64_t seed, const char *key, ppx_image **out, ppx_err *err)
{
    *out = img;
    return 0;
}

int ppx_pipeline_normalize(const ppx_pipeline *pl, ppx_pipeline_ctx *ctx, const ppx_image *in,
                           ppx_image **out, ppx_err *err)
{
    return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_TRANSFORM, "no normalize");
}

void ppx_pipeline_print_ops(FILE *f)
{
}
