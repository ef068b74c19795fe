/* The run's zygote (pool/zygote.h): the kinds of pools it makes, and the
 * workers' job as both the rank and the zygote derive it from the run's
 * configuration. No MPI call, so the zygote may run it. */
#ifndef PPX_SCHED_ZYGOTE_H
#define PPX_SCHED_ZYGOTE_H

#include "prepix/sched.h"
#include "work/job.h"

/* The pools a run has; the descriptors each sends (ppx_pool_config's
 * keep_fds), in this order:
 * JOB: INPUT, OUTDIR, each split's folder, each --with tree (-1: none).
 * THUMB: INPUT, each split's folder. */
enum { PPX_ZYGOTE_JOB = 1, PPX_ZYGOTE_THUMB = 2 };

/* The pipeline of duplicate groups' thumbnails. */
#define PPX_THUMB_PIPELINE "resize 64 fit=longer | rgb | to-8bit"

/* Fills what of the workers' job comes from cfg alone (not the
 * descriptors, the splits or the companions). 0, or PPX_EINVAL. The rank
 * and the zygote both build the job with it, so a field of the job set
 * anywhere else on the rank would never reach workers under MPI: set new
 * fields here (or derive them from the descriptors in zygote.c's define). */
PPX_MUST_USE int ppx__job_config_fill(const ppx_run_config *cfg, ppx_job_config *job, ppx_err *e);
/* Makes the job *tj (a copy of the run's) the thumbnails' job with pl. */
void ppx__thumb_job(ppx_job_config *tj, const ppx_pipeline *pl);

#endif
