/* The forked worker pool: results, crashes, hangs, workers lost while idle.
 * Workers run the real job with the test fault hook (PPX_TEST_FAULT). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "pool/pool.h"

typedef struct {
    int n;
    ppx_result last;
} seen;

static void on_result(void *arg, const ppx_result *r, const uint8_t *payload)
{
    seen *s = arg;
    s->n++;
    s->last = *r;
}

/* Submits one image and waits (bounded) for its result. */
static int one(ppx_pool *p, const char *key, seen *s)
{
    ppx_err e;
    s->n = 0;
    if (ppx_pool_submit(p, 7, 3, key, key, NULL, NULL, 0, &e))
        return -1;
    for (int i = 0; i < 200 && s->n == 0; i++)
        if (ppx_pool_wait(p, 50, -1, on_result, s, &e) < 0)
            return -1;
    return s->n == 1 ? 0 : -1;
}

static int with_pool(double timeout, ppx_pool **p, ppx_job_config *job, ppx_pool_config *pc)
{
    memset(job, 0, sizeof *job);
    ppx_limits_default(&job->limits);
    memset(pc, 0, sizeof *pc);
    pc->workers = 1;
    pc->timeout_s = timeout;
    pc->job = job;
    ppx_err e;
    return ppx_pool_new(pc, p, &e);
}

static int results_and_crash(void)
{
    setenv("PPX_TEST_FAULT", "noop:ok.jpg,crash:bad.jpg", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p, &job, &pc), 0);
    seen s;
    CHECK_EQ_INT(one(p, "ok.jpg", &s), 0);
    CHECK_EQ_INT(s.last.status, 0);
    CHECK_EQ_INT(s.last.id, 7);
    CHECK_EQ_INT(s.last.tag, 3);
    int pid = ppx_pool_worker_pid(p, 0);
    CHECK_EQ_INT(one(p, "bad.jpg", &s), 0);
    CHECK_EQ_INT(s.last.status, PPX_ECRASH);
    CHECK_EQ_INT(s.last.err.stage, PPX_STAGE_WORKER);
    CHECK(strstr(s.last.err.msg, "SIGSEGV") != NULL);
    CHECK(ppx_pool_worker_pid(p, 0) != pid); /* replaced */
    CHECK_EQ_INT(one(p, "ok.jpg", &s), 0);
    CHECK_EQ_INT(s.last.status, 0);
    ppx_pool_free(&p, 1);
    CHECK(p == NULL);
    return 0;
}

static int hang_times_out(void)
{
    setenv("PPX_TEST_FAULT", "noop:ok.jpg,hang:stuck.jpg", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(0.3, &p, &job, &pc), 0);
    seen s;
    CHECK_EQ_INT(one(p, "stuck.jpg", &s), 0);
    CHECK_EQ_INT(s.last.status, PPX_ETIMEOUT);
    CHECK_EQ_INT(s.last.err.stage, PPX_STAGE_TIMEOUT);
    CHECK_EQ_INT(one(p, "ok.jpg", &s), 0);
    CHECK_EQ_INT(s.last.status, 0);
    ppx_pool_free(&p, 1);
    return 0;
}

static int idle_worker_killed(void)
{
    /* A worker killed while it waits for work (OOM killer, an operator) must
     * not cost the next image: it is replaced and the image goes through. */
    setenv("PPX_TEST_FAULT", "noop:ok.jpg", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p, &job, &pc), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    CHECK(kill(pid, SIGKILL) == 0);
    /* Reaping here would steal the pool's child; wait until it is a zombie. */
    siginfo_t si;
    CHECK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0);
    seen s;
    CHECK_EQ_INT(one(p, "ok.jpg", &s), 0);
    CHECK_EQ_INT(s.last.status, 0);
    CHECK(ppx_pool_worker_pid(p, 0) != pid);
    ppx_pool_free(&p, 1);
    return 0;
}

PPX_TEST_MAIN(TEST(results_and_crash), TEST(hang_times_out), TEST(idle_worker_killed))
