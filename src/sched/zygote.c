/* The run's zygote: forked by the CLI before MPI_Init, it makes the
 * workers' job from its copy of the run's configuration and the descriptors
 * the rank sends once it has opened INPUT, OUTDIR and the rest. No MPI call
 * here but MPI_Initialized in a test hook (allowed before MPI_Init).
 * May change: no run state (it takes the run's configuration and a job). */
#include "sched/zygote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool/zygote.h"

int ppx__job_config_fill(const ppx_run_config *cfg, ppx_job_config *job, ppx_err *e)
{
    job->pipeline = cfg->pipeline;
    job->out_format = cfg->out_format;
    ppx_encode_opts_default(&job->enc, cfg->out_format);
    job->enc.quality = cfg->quality;
    job->enc.webp_lossless = cfg->webp_lossless;
    job->limits = cfg->limits;
    job->seed = cfg->seed;
    job->write_outputs = cfg->outdir != NULL;
    job->follow_symlinks = cfg->follow_symlinks;
    job->copy_mode = cfg->copy_mode;
    job->fingerprint = cfg->duplicates;
    job->sub = cfg->sub;
    if (cfg->shard == PPX_SHARD_NPY &&
        ppx_sched_npy_shape(cfg->pipeline, cfg->sub.chip_w, cfg->sub.chip_h, &job->npy))
        /* The CLI refuses such pipelines first: a caller of the library that did not. */
        return ppx_err_set(e, PPX_EINVAL, PPX_STAGE_JOB,
                           "-f npy needs a pipeline that gives every image the same size");
    return 0;
}

void ppx__thumb_job(ppx_job_config *tj, const ppx_pipeline *pl)
{
    tj->pipeline = pl;
    tj->out_format = PPX_FMT_JPEG;
    ppx_encode_opts_default(&tj->enc, PPX_FMT_JPEG);
    tj->enc.quality = 80;
    tj->write_outputs = 1;
    tj->out_root = -1;
    tj->copy_mode = 0;
    tj->fingerprint = 0;
    tj->comp.n = 0; /* a thumbnail has no companions */
    memset(&tj->npy, 0, sizeof tj->npy);
}

/* A pool's job in the zygote. */
typedef struct {
    ppx_job_config job;
    ppx_pipeline *pl; /* the thumbnails' */
} zjob;

static void release(void *ctx, void *made)
{
    (void)ctx;
    zjob *z = made;
    ppx_pipeline_free(&z->pl);
    free(z);
}

/* In the zygote: the job of a pool of kind from its descriptors (laid out
 * as PPX_ZYGOTE_JOB / PPX_ZYGOTE_THUMB say; a rank that reads no input,
 * --transport bytes, sends no split). */
static int define(void *ctx, uint32_t kind, const int *fds, int nfds, ppx_pool_config *pc,
                  void **made)
{
    const ppx_run_config *cfg = ctx;
    int job = kind == PPX_ZYGOTE_JOB;
    int base = job ? 2 : 1, ncomp = job ? cfg->n_with : 0;
    int nsplit = nfds - base - ncomp;
    if ((!job && kind != PPX_ZYGOTE_THUMB) || nsplit < 0 || nsplit > PPX_JOB_SPLITS_MAX ||
        ncomp > PPX_ROLES_MAX)
        return PPX_EINTERNAL;
    zjob *z = calloc(1, sizeof *z);
    if (!z)
        return PPX_ENOMEM;
    ppx_err e;
    int rc = ppx__job_config_fill(cfg, &z->job, &e);
    z->job.in_root = fds[0];
    z->job.out_root = job ? fds[1] : -1;
    z->job.splits.names = cfg->split_names;
    z->job.splits.n = nsplit;
    for (int k = 0; k < PPX_JOB_SPLITS_MAX; k++)
        z->job.splits.fd[k] = k < nsplit ? fds[base + k] : -1;
    z->job.comp.spec = cfg->with;
    z->job.comp.n = ncomp;
    for (int k = 0; k < ncomp; k++)
        z->job.comp.root[k] = fds[base + nsplit + k];
    if (!rc && !job) {
        rc = ppx_pipeline_parse(PPX_THUMB_PIPELINE, &z->pl, &e);
        if (!rc)
            ppx__thumb_job(&z->job, z->pl);
    }
    if (rc) {
        release(NULL, z);
        return rc;
    }
    pc->work = ppx_job_worker(&z->job);
    *made = z;
    return 0;
}

static void before_fork(void *ctx)
{
    (void)ctx;
#ifdef PPX_TEST_HOOKS
    /* Test-only: PPX_TEST_ZYGOTE=1: the zygote says, at each fork, whether
     * MPI was initialised in the process that forks, and how many threads
     * it has (one: no other thread can hold a lock the child inherits). */
    const char *t = getenv("PPX_TEST_ZYGOTE");
    if (t && t[0] == '1') {
        int init = -1, threads = -1;
        if (MPI_Initialized(&init) != MPI_SUCCESS)
            init = -1;
        FILE *f =
            fopen("/proc/self/status", "r"); /* ppx-lint: not a path of the run (a test hook) */
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "Threads: %d", &threads) == 1)
                break;
        if (f)
            fclose(f);
        dprintf(STDERR_FILENO,
                "prepix: test: zygote %d forks a worker; MPI_Initialized %d; threads %d\n",
                (int)getpid(), init, threads);
    }
#endif
}

int ppx_sched_zygote_start(ppx_run_config *cfg, ppx_err *err)
{
    /* Static: the zygote reads it in its copy of this process. */
    static ppx_zygote_kinds kinds;
    kinds = (ppx_zygote_kinds){define, release, before_fork, cfg};
    return ppx_zygote_start(&kinds, &cfg->zygote, err);
}

void ppx_sched_zygote_stop(ppx_run_config *cfg)
{
    ppx_zygote_free(&cfg->zygote);
}
