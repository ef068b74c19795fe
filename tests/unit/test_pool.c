/* The forked worker pool: results, crashes, hangs, workers lost while idle,
 * and the second task a busy worker holds in its pipe (it must survive the
 * loss of the first). Workers run the real job with the test fault hook
 * (PPX_TEST_FAULT). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "work/job.h"
#include "pool/pool.h"
#include "syscall_fault.h"

typedef struct {
    int n;
    ppx_result last;
    ppx_result all[64]; /* in order of arrival */
} seen;

static void on_result(void *arg, const ppx_result *r, const uint8_t *payload)
{
    (void)payload;
    seen *s = arg;
    if (s->n < 64)
        s->all[s->n] = *r;
    s->n++;
    s->last = *r;
}

/* Waits (bounded: 10 s) until s->n reaches n. */
static int until(ppx_pool *p, seen *s, int n)
{
    ppx_err e;
    for (int i = 0; i < 200 && s->n < n; i++)
        if (ppx_pool_wait(p, 50, -1, on_result, s, &e) < 0)
            return -1;
    return s->n == n ? 0 : -1;
}

static int submit(ppx_pool *p, uint64_t id, const char *key)
{
    ppx_err e;
    return ppx_pool_submit(p, id, 3, key, NULL, key, NULL, NULL, 0, &e);
}

/* Submits one image and waits (bounded) for its result. */
static int one(ppx_pool *p, const char *key, seen *s)
{
    ppx_err e;
    s->n = 0;
    if (ppx_pool_submit(p, 7, 3, key, NULL, key, NULL, NULL, 0, &e))
        return -1;
    for (int i = 0; i < 200 && s->n == 0; i++)
        if (ppx_pool_wait(p, 50, -1, on_result, s, &e) < 0)
            return -1;
    return s->n == 1 ? 0 : -1;
}

static int with_pool_n(double timeout, int workers, ppx_pool **p, ppx_job_config *job,
                       ppx_pool_config *pc)
{
    memset(job, 0, sizeof *job);
    ppx_limits_default(&job->limits);
    memset(pc, 0, sizeof *pc);
    pc->workers = workers;
    pc->timeout_s = timeout;
    pc->work = ppx_job_worker(job);
    ppx_err e;
    return ppx_pool_new(pc, p, &e);
}

static int with_pool(double timeout, ppx_pool **p, ppx_job_config *job, ppx_pool_config *pc)
{
    return with_pool_n(timeout, 1, p, job, pc);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
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

/* Task 1 was lost with `status`; task 2, queued behind it, went through. */
static int first_lost_second_ok(const seen *s, int status)
{
    CHECK_EQ_INT(s->all[0].id, 1);
    CHECK_EQ_INT(s->all[0].status, status);
    CHECK_EQ_INT(s->all[1].id, 2);
    CHECK_EQ_INT(s->all[1].status, 0);
    return 0;
}

/* A crashes while B waits in the pipe behind it: A costs itself only, B goes
 * to the new worker. Whether A dies before or after B is written, the
 * outcome must be the same. */
static int queued_survives_crash(void)
{
    setenv("PPX_TEST_FAULT", "noop:ok.jpg,crash:bad.jpg", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p, &job, &pc), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "bad.jpg"), 0);
    CHECK_EQ_INT(submit(p, 2, "ok.jpg"), 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 2);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    CHECK_EQ_INT(first_lost_second_ok(&s, PPX_ECRASH), 0);
    CHECK_EQ_INT(s.all[0].err.stage, PPX_STAGE_WORKER);
    CHECK(strstr(s.all[0].err.msg, "SIGSEGV") != NULL);
    CHECK_EQ_INT(s.all[1].tag, 3);
    CHECK(ppx_pool_worker_pid(p, 0) != pid);
    CHECK_EQ_INT(ppx_pool_pending(p), 0);
    ppx_pool_free(&p, 1);
    return 0;
}

/* The same with B surely in the pipe: the worker holds A (stuck) and is
 * killed from outside only after B was written. */
static int queued_survives_kill(void)
{
    setenv("PPX_TEST_FAULT", "noop:ok.jpg,hang:stuck.jpg", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p, &job, &pc), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "stuck.jpg"), 0);
    CHECK_EQ_INT(submit(p, 2, "ok.jpg"), 0);
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    CHECK_EQ_INT(first_lost_second_ok(&s, PPX_ECRASH), 0);
    CHECK(strstr(s.all[0].err.msg, "SIGKILL") != NULL);
    ppx_pool_free(&p, 1);
    return 0;
}

/* The worker died while it held A; submitting B finds its pipe closed. A is
 * reported lost, B is not: it goes to the new worker. */
static int submit_to_dead_busy_worker(void)
{
    setenv("PPX_TEST_FAULT", "noop:ok.jpg,hang:stuck.jpg", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p, &job, &pc), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "stuck.jpg"), 0);
    CHECK(kill(pid, SIGKILL) == 0);
    siginfo_t si;
    CHECK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0);
    CHECK_EQ_INT(submit(p, 2, "ok.jpg"), 0);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    CHECK_EQ_INT(first_lost_second_ok(&s, PPX_ECRASH), 0);
    CHECK(ppx_pool_worker_pid(p, 0) != pid);
    ppx_pool_free(&p, 1);
    return 0;
}

/* A hangs with B queued: A times out (its clock, not B's), B goes through.
 * Then both of a stuck pair time out, one after the other. */
static int queued_survives_timeout(void)
{
    setenv("PPX_TEST_FAULT", "noop:ok.jpg,hang:stuck.jpg", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(0.3, &p, &job, &pc), 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "stuck.jpg"), 0);
    CHECK_EQ_INT(submit(p, 2, "ok.jpg"), 0);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    CHECK_EQ_INT(first_lost_second_ok(&s, PPX_ETIMEOUT), 0);
    CHECK_EQ_INT(s.all[0].err.stage, PPX_STAGE_TIMEOUT);
    double t0 = now_s();
    CHECK_EQ_INT(submit(p, 3, "stuck.jpg"), 0);
    CHECK_EQ_INT(submit(p, 4, "stuck.jpg"), 0);
    CHECK_EQ_INT(until(p, &s, 4), 0);
    /* The second's clock started when the first was given up, not when it
     * was submitted: two full timeouts. */
    CHECK(now_s() - t0 >= 2 * 0.3);
    CHECK_EQ_INT(s.all[2].id, 3);
    CHECK_EQ_INT(s.all[2].status, PPX_ETIMEOUT);
    CHECK_EQ_INT(s.all[3].id, 4);
    CHECK_EQ_INT(s.all[3].status, PPX_ETIMEOUT);
    CHECK_EQ_INT(ppx_pool_pending(p), 0);
    ppx_pool_free(&p, 1);
    return 0;
}

/* One worker kept full: results come back in the order of submission. */
static int fifo_order(void)
{
    setenv("PPX_TEST_FAULT", "noop:*", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p, &job, &pc), 0);
    seen s = {0};
    uint64_t next = 0;
    ppx_err e;
    while (s.n < 60) {
        while (next < 60 && ppx_pool_slots(p, 0) > 0)
            CHECK_EQ_INT(submit(p, next++, "a.jpg"), 0);
        CHECK(ppx_pool_wait(p, 1000, -1, on_result, &s, &e) > 0);
    }
    for (int i = 0; i < 60; i++) {
        CHECK_EQ_INT(s.all[i].id, i);
        CHECK_EQ_INT(s.all[i].status, 0);
    }
    ppx_pool_free(&p, 1);
    return 0;
}

/* Two workers: four slots for paths, two for payloads; idle workers are
 * filled before any worker gets a second task. */
static int slots_and_pending(void)
{
    setenv("PPX_TEST_FAULT", "noop:*", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool_n(10, 2, &p, &job, &pc), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 4);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 2);
    CHECK_EQ_INT(ppx_pool_pending(p), 0);
    CHECK_EQ_INT(submit(p, 1, "a.jpg"), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 3);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 1);
    CHECK_EQ_INT(submit(p, 2, "a.jpg"), 0);
    /* The second went to the idle worker, not behind the first. */
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 2);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 2);
    CHECK_EQ_INT(submit(p, 3, "a.jpg"), 0);
    CHECK_EQ_INT(submit(p, 4, "a.jpg"), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 4);
    CHECK(submit(p, 5, "a.jpg") < 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 4);
    seen s = {0};
    CHECK_EQ_INT(until(p, &s, 4), 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 4);
    ppx_pool_free(&p, 1);
    return 0;
}

/* A task carrying its input bytes never waits behind a busy worker: a
 * blocked write of megabytes to it could deadlock against its blocked write
 * of a large result. */
static int payload_needs_idle_worker(void)
{
    setenv("PPX_TEST_FAULT", "noop:*", 1);
    ppx_job_config job;
    ppx_pool_config pc;
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p, &job, &pc), 0);
    static uint8_t big[1 << 20];
    ppx_err e;
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 1);
    CHECK_EQ_INT(ppx_pool_submit(p, 1, 3, "a.jpg", NULL, "a.jpg", NULL, big, sizeof big, &e), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 0);
    CHECK(ppx_pool_submit(p, 2, 3, "b.jpg", NULL, "b.jpg", NULL, big, sizeof big, &e) < 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 1);
    seen s = {0};
    CHECK_EQ_INT(until(p, &s, 1), 0);
    /* Behind a paths task, too. */
    CHECK_EQ_INT(submit(p, 3, "c.jpg"), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 1);
    CHECK(ppx_pool_submit(p, 4, 3, "d.jpg", NULL, "d.jpg", NULL, big, sizeof big, &e) < 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 1);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    CHECK_EQ_INT(s.all[1].id, 3);
    CHECK_EQ_INT(ppx_pool_submit(p, 5, 3, "e.jpg", NULL, "e.jpg", NULL, big, sizeof big, &e), 0);
    CHECK_EQ_INT(until(p, &s, 3), 0);
    CHECK_EQ_INT(s.all[2].id, 5);
    CHECK_EQ_INT(s.all[2].status, 0);
    ppx_pool_free(&p, 1);
    return 0;
}

/* A worker holds the descriptors it needs and no others: stdin, stdout,
 * stderr, its two pipe ends, INPUT's and OUTDIR's folders. Anything else the
 * rank had open when it forked (MPI's sockets and shared memory, the
 * journal, the lock, other workers' pipes) would keep files, locks and
 * connections alive as long as the worker, and let a bug write to them. */
static int worker_fds(void)
{
    setenv("PPX_TEST_FAULT", "noop:*", 1);
    int stray = open("/dev/null", O_RDONLY);                /* inherited by fork, like MPI's */
    int stray_cx = open("/dev/null", O_RDONLY | O_CLOEXEC); /* fork ignores CLOEXEC */
    CHECK(stray >= 0 && stray_cx >= 0);
    ppx_job_config job;
    memset(&job, 0, sizeof job);
    ppx_limits_default(&job.limits);
    job.in_root = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    job.out_root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(job.in_root >= 0 && job.out_root >= 0);
    ppx_pool_config pc;
    memset(&pc, 0, sizeof pc);
    pc.workers = 2;
    pc.timeout_s = 10;
    pc.work = ppx_job_worker(&job);
    int keep[] = {job.in_root, job.out_root};
    pc.keep_fds = keep;
    pc.n_keep_fds = 2;
    ppx_pool *p;
    ppx_err e;
    CHECK_EQ_INT(ppx_pool_new(&pc, &p, &e), 0);
    /* Both workers have answered once: they are past their start. */
    CHECK_EQ_INT(submit(p, 1, "a.jpg"), 0);
    CHECK_EQ_INT(submit(p, 2, "b.jpg"), 0);
    seen s = {0};
    CHECK_EQ_INT(until(p, &s, 2), 0);
    for (int w = 0; w < 2; w++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/fd", ppx_pool_worker_pid(p, w));
        DIR *d = opendir(dir);
        CHECK(d != NULL);
        int pipes = 0, others = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            int fd = atoi(de->d_name);
            char link[256] = "", path[400];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            ssize_t n = readlink(path, link, sizeof link - 1);
            if (n > 0)
                link[n] = '\0';
            if (fd <= 2 || fd == job.in_root || fd == job.out_root)
                continue;
            if (strncmp(link, "pipe:", 5) == 0) {
                pipes++;
                continue;
            }
            fprintf(stderr, "worker %d holds fd %d -> %s\n", w, fd, link);
            others++;
        }
        closedir(d);
        CHECK_EQ_INT(others, 0);
        CHECK_EQ_INT(pipes, 2); /* its own task and result pipes, not its sibling's */
    }
    ppx_pool_free(&p, 1);
    close(stray);
    close(stray_cx);
    close(job.in_root);
    close(job.out_root);
    return 0;
}

/* A worker of the tests below, not the real job: it reports its own
 * address-space limit (bytes_read: soft, bytes_written: hard), or, with arg
 * "unterminated", an error whose strings fill their arrays without a NUL (a
 * worker whose memory a bad input corrupted). */
static void *probe_start(const void *arg)
{
    static int state;
    (void)arg;
    return &state;
}

static void probe_run(void *state, const void *arg, const ppx_task *t, ppx_result *r,
                      const uint8_t **out)
{
    (void)state;
    (void)t;
    (void)out;
    if (arg && strcmp(arg, "unterminated") == 0) {
        r->status = PPX_EIO;
        memset(&r->err, 'A', sizeof r->err);
        r->err.code = PPX_EIO;
        r->err.stage = PPX_STAGE_DECODE;
        return;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0) {
        r->bytes_read = (uint64_t)rl.rlim_cur;
        r->bytes_written = (uint64_t)rl.rlim_max;
    }
}

static int probe_pool(const char *arg, uint64_t as_limit, ppx_pool **p)
{
    ppx_pool_config pc;
    memset(&pc, 0, sizeof pc);
    pc.workers = 1;
    pc.timeout_s = 10;
    pc.as_limit = as_limit;
    pc.work = (ppx_worker_fn){probe_start, probe_run, NULL, arg};
    ppx_err e;
    return ppx_pool_new(&pc, p, &e);
}

/* The strings of a worker's error are cut to their arrays at the pool, so
 * whoever prints or copies them stops inside the result. */
static int result_strings_terminated(void)
{
    ppx_pool *p;
    CHECK_EQ_INT(probe_pool("unterminated", 0, &p), 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "a.jpg"), 0);
    CHECK_EQ_INT(until(p, &s, 1), 0);
    const ppx_err *e = &s.all[0].err;
    CHECK_EQ_INT(s.all[0].status, PPX_EIO);
    CHECK(memchr(e->msg, '\0', sizeof e->msg) != NULL);
    CHECK_EQ_INT(strlen(e->msg), sizeof e->msg - 1); /* cut, not emptied */
    ppx_pool_free(&p, 1);
    return 0;
}

/* Under AddressSanitizer, whose shadow memory is reserved address space, the
 * job runs without the limit (src/sched/run.c); so do these two tests. */
#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNDER_ASAN()                                                                          \
    do {                                                                                           \
        printf("SKIP: no address-space limit under AddressSanitizer\n");                           \
        return PPX_SKIP;                                                                           \
    } while (0)
#else
#define SKIP_UNDER_ASAN()                                                                          \
    do {                                                                                           \
    } while (0)
#endif

/* A worker gets the address-space limit asked for. */
static int as_limit_set(void)
{
    SKIP_UNDER_ASAN();
    ppx_pool *p;
    uint64_t lim = (uint64_t)48 << 30;
    CHECK_EQ_INT(probe_pool(NULL, lim, &p), 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "a.jpg"), 0);
    CHECK_EQ_INT(until(p, &s, 1), 0);
    CHECK_EQ_INT(s.all[0].status, 0);
    CHECK_EQ_INT(s.all[0].bytes_read, lim);
    ppx_pool_free(&p, 1);
    return 0;
}

/* An unprivileged user whose hard limit (ulimit -Hv) is below --as-limit
 * cannot raise it: the stricter limit stands, and images still run. */
static int lower_hard_limit_kept_child(void)
{
    uint64_t hard = (uint64_t)40 << 30;
    struct rlimit rl = {(rlim_t)hard, (rlim_t)hard};
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
    if (geteuid() == 0)
        CHECK(setgid(54321) == 0 && setuid(54321) == 0); /* no CAP_SYS_RESOURCE */
    ppx_pool *p;
    CHECK_EQ_INT(probe_pool(NULL, hard * 2, &p), 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "a.jpg"), 0);
    CHECK_EQ_INT(until(p, &s, 1), 0);
    CHECK_EQ_INT(s.all[0].status, 0);
    CHECK_EQ_INT(s.all[0].bytes_read, hard);
    CHECK_EQ_INT(s.all[0].bytes_written, hard);
    ppx_pool_free(&p, 1);
    return 0;
}

static int lower_hard_limit_kept(void)
{
    SKIP_UNDER_ASAN();
    return ppx_test_forked(lower_hard_limit_kept_child);
}

/* Workers that cannot set up what bounds them (the address-space limit,
 * dying with the rank) never run an image unbounded: each image they are
 * given fails at stage worker naming the cause, one failure per image, and
 * the pool goes on with the next. */
static int setup_fails(const ppx_test_fault *f, int n, const char *why)
{
    if (ppx_test_fail_syscalls(f, n) != 0)
        return PPX_SKIP;
    ppx_pool *p;
    CHECK_EQ_INT(probe_pool(NULL, (uint64_t)48 << 30, &p), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "a.jpg"), 0);
    CHECK_EQ_INT(submit(p, 2, "b.jpg"), 0);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(s.all[i].id, i + 1);
        CHECK_EQ_INT(s.all[i].status, PPX_EINTERNAL);
        CHECK_EQ_INT(s.all[i].err.stage, PPX_STAGE_WORKER);
        if (!strstr(s.all[i].err.msg, why)) {
            fprintf(stderr, "message: %s\n", s.all[i].err.msg);
            return 1;
        }
    }
    CHECK_EQ_INT(ppx_pool_worker_pid(p, 0), pid); /* not forked again and again */
    CHECK_EQ_INT(ppx_pool_pending(p), 0);
    ppx_pool_free(&p, 1);
    return 0;
}

static int rlimit_fails_child(void)
{
    ppx_test_fault f[2];
    int n = 0;
#ifdef __NR_setrlimit
    f[n++] = (ppx_test_fault){__NR_setrlimit, 0, RLIMIT_AS, EPERM};
#endif
    f[n++] = (ppx_test_fault){__NR_prlimit64, 1, RLIMIT_AS, EPERM};
    return setup_fails(f, n, "address-space limit");
}

static int rlimit_fails(void)
{
    return ppx_test_forked(rlimit_fails_child);
}

static int pdeathsig_fails_child(void)
{
    ppx_test_fault f[] = {{__NR_prctl, 0, PR_SET_PDEATHSIG, EINVAL}};
    return setup_fails(f, 1, "PR_SET_PDEATHSIG");
}

static int pdeathsig_fails(void)
{
    return ppx_test_forked(pdeathsig_fails_child);
}

PPX_TEST_MAIN(TEST(results_and_crash), TEST(hang_times_out), TEST(idle_worker_killed),
              TEST(queued_survives_crash), TEST(queued_survives_kill),
              TEST(submit_to_dead_busy_worker), TEST(queued_survives_timeout), TEST(fifo_order),
              TEST(slots_and_pending), TEST(payload_needs_idle_worker), TEST(worker_fds),
              TEST(result_strings_terminated), TEST(as_limit_set), TEST(lower_hard_limit_kept),
              TEST(rlimit_fails), TEST(pdeathsig_fails))
