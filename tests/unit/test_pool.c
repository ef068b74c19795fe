/* The forked worker pool with a trivial worker function (no images): replies,
 * crashes, hangs, workers lost while idle, the second task a busy worker holds
 * in its pipe (it must survive the loss of the first), bulk bytes, and what
 * bounds a worker. The per-image job in the pool is tests/unit/test_work.c. */
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
#include "pool/pool.h"
#include "pool/zygote.h"
#include "syscall_fault.h"

typedef struct {
    int n;
    ppx_pool_result last;
    ppx_pool_result all[64]; /* in order of arrival */
    char reply[64][32];      /* the first bytes of each reply, as a string */
    uint64_t sum;            /* of the last reply's bytes */
} seen;

static void on_result(void *arg, const ppx_pool_result *r, const uint8_t *reply)
{
    seen *s = arg;
    if (s->n < 64) {
        s->all[s->n] = *r;
        size_t n = r->len < 31 ? (size_t)r->len : 31;
        if (reply)
            memcpy(s->reply[s->n], reply, n);
        s->reply[s->n][reply ? n : 0] = '\0';
    }
    s->sum = 0;
    for (uint64_t i = 0; reply && i < r->len; i++)
        s->sum += reply[i];
    s->n++;
    s->last = *r;
}

/* The worker function of these tests. The task's bytes say what to do:
 * "crash" (SIGSEGV), "hang" (forever), "exit" (status 5), "rlimit" (reply
 * the address-space limit, soft and hard, as two uint64), anything else:
 * reply the task's bytes and then its bulk bytes. */
static void *echo_start(const void *arg)
{
    static int state;
    (void)arg;
    return &state;
}

static int is(const ppx_pool_task *t, const char *what)
{
    return t->len == strlen(what) && memcmp(t->data, what, t->len) == 0;
}

static void echo_run(void *state, const void *arg, const ppx_pool_task *t, ppx_pool_reply *reply)
{
    static uint64_t lim[2];
    (void)state;
    (void)arg;
    if (is(t, "crash")) {
        signal(SIGSEGV, SIG_DFL); /* die by the signal even where a sanitizer catches it */
        raise(SIGSEGV);
    }
    if (is(t, "hang"))
        for (;;)
            pause();
    if (is(t, "exit"))
        _exit(5);
    if (is(t, "rlimit")) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_AS, &rl) == 0) {
            lim[0] = (uint64_t)rl.rlim_cur;
            lim[1] = (uint64_t)rl.rlim_max;
        }
        *reply = (ppx_pool_reply){lim, sizeof lim, NULL, 0};
        return;
    }
    *reply = (ppx_pool_reply){t->data, t->len, t->bulk, t->bulk_len};
}

#ifdef POOL_VIA_ZYGOTE
/* The same tests with the workers forked by a zygote (pool/zygote.h), as a
 * rank under MPI has them: one zygote per test process, started at the
 * first pool. */
static int echo_define(void *ctx, uint32_t kind, const int *fds, int nfds, ppx_pool_config *pc,
                       void **made)
{
    (void)ctx;
    (void)fds;
    (void)nfds;
    if (kind != 1)
        return PPX_EINTERNAL;
    pc->work = (ppx_worker_fn){echo_start, echo_run, NULL, NULL, 1 << 20, NULL};
    *made = NULL;
    return 0;
}

static ppx_zygote *the_zygote;

static ppx_zygote *zygote(void)
{
    static const ppx_zygote_kinds kinds = {echo_define, NULL, NULL, NULL};
    ppx_err e;
    if (!the_zygote && ppx_zygote_start(&kinds, &the_zygote, &e)) {
        fprintf(stderr, "zygote: %s\n", e.msg);
        exit(1);
    }
    return the_zygote;
}
#endif

static ppx_pool_config echo_config(double timeout, int workers)
{
    ppx_pool_config pc;
    memset(&pc, 0, sizeof pc);
    pc.workers = workers;
    pc.timeout_s = timeout;
    pc.work = (ppx_worker_fn){echo_start, echo_run, NULL, NULL, 1 << 20, NULL};
#ifdef POOL_VIA_ZYGOTE
    pc.zygote = zygote();
    pc.zygote_kind = 1;
#endif
    return pc;
}

static int with_pool_n(double timeout, int workers, ppx_pool **p)
{
    ppx_pool_config pc = echo_config(timeout, workers);
    ppx_err e;
    return ppx_pool_new(&pc, p, &e);
}

static int with_pool(double timeout, ppx_pool **p)
{
    return with_pool_n(timeout, 1, p);
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

static int submit_bulk(ppx_pool *p, uint64_t id, const char *what, const uint8_t *bulk, size_t len)
{
    ppx_err e;
    ppx_pool_task t = {id, 3, (const uint8_t *)what, strlen(what), bulk, len};
    return ppx_pool_submit(p, &t, &e);
}

static int submit(ppx_pool *p, uint64_t id, const char *what)
{
    return submit_bulk(p, id, what, NULL, 0);
}

/* Submits one task and waits (bounded) for its result. */
static int one(ppx_pool *p, const char *what, seen *s)
{
    s->n = 0;
    if (submit(p, 7, what))
        return -1;
    return until(p, s, 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int results_and_crash(void)
{
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p), 0);
    seen s;
    CHECK_EQ_INT(one(p, "ok", &s), 0);
    CHECK_EQ_INT(s.last.status, 0);
    CHECK_EQ_INT(s.last.id, 7);
    CHECK_EQ_INT(s.last.tag, 3);
    CHECK_EQ_INT(s.last.worker_pid, 0);
    CHECK(strcmp(s.reply[0], "ok") == 0);
    int pid = ppx_pool_worker_pid(p, 0);
    CHECK_EQ_INT(one(p, "crash", &s), 0);
    CHECK_EQ_INT(s.last.status, PPX_ECRASH);
    CHECK_EQ_INT(s.last.err.stage, PPX_STAGE_WORKER);
    CHECK_EQ_INT(s.last.len, 0);
    CHECK_EQ_INT(s.last.worker_pid, pid);
    CHECK(strstr(s.last.err.msg, "SIGSEGV") != NULL);
    CHECK(ppx_pool_worker_pid(p, 0) != pid); /* replaced */
    CHECK_EQ_INT(one(p, "exit", &s), 0);
    CHECK_EQ_INT(s.last.status, PPX_ECRASH);
    CHECK(strcmp(s.last.err.msg, "worker exited with status 5") == 0);
    CHECK_EQ_INT(one(p, "ok", &s), 0);
    CHECK_EQ_INT(s.last.status, 0);
    ppx_pool_free(&p, 1);
    CHECK(p == NULL);
    return 0;
}

/* A reply of two spans comes back whole, a large one included; an empty one
 * is no bytes at all. */
static int reply_bytes(void)
{
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p), 0);
    static uint8_t big[3 << 20];
    uint64_t want = 'b' + 'i' + 'g';
    for (size_t i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t)(i * 7);
        want += big[i];
    }
    seen s = {0};
    CHECK_EQ_INT(submit_bulk(p, 1, "big", big, sizeof big), 0);
    CHECK_EQ_INT(until(p, &s, 1), 0);
    CHECK_EQ_INT(s.last.len, 3 + sizeof big);
    CHECK(s.sum == want);
    CHECK(strncmp(s.reply[0], "big", 3) == 0);
    CHECK_EQ_INT(submit(p, 2, ""), 0);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    CHECK_EQ_INT(s.last.status, 0);
    CHECK_EQ_INT(s.last.len, 0);
    ppx_pool_free(&p, 1);
    return 0;
}

static int hang_times_out(void)
{
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(0.3, &p), 0);
    seen s;
    CHECK_EQ_INT(one(p, "hang", &s), 0);
    CHECK_EQ_INT(s.last.status, PPX_ETIMEOUT);
    CHECK_EQ_INT(s.last.err.stage, PPX_STAGE_TIMEOUT);
    /* The pool names no image: a task is what its work function calls it. */
    CHECK(strcmp(s.last.err.msg, "worker stuck for more than 0.3 s on this task; killed") == 0);
    CHECK_EQ_INT(one(p, "ok", &s), 0);
    CHECK_EQ_INT(s.last.status, 0);
    ppx_pool_free(&p, 1);
    return 0;
}

static int idle_worker_killed(void)
{
    /* A worker killed while it waits for work (OOM killer, an operator) must
     * not cost the next task: it is replaced and the task goes through. */
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    CHECK(kill(pid, SIGKILL) == 0);
    /* Reaping here would steal the pool's child; wait until it is a zombie. */
    siginfo_t si;
    CHECK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0);
    seen s;
    CHECK_EQ_INT(one(p, "ok", &s), 0);
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
    CHECK(strcmp(s->reply[1], "ok") == 0);
    return 0;
}

/* A crashes while B waits in the pipe behind it: A costs itself only, B goes
 * to the new worker. Whether A dies before or after B is written, the
 * outcome must be the same. */
static int queued_survives_crash(void)
{
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "crash"), 0);
    CHECK_EQ_INT(submit(p, 2, "ok"), 0);
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
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "hang"), 0);
    CHECK_EQ_INT(submit(p, 2, "ok"), 0);
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
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "hang"), 0);
    CHECK(kill(pid, SIGKILL) == 0);
    siginfo_t si;
    CHECK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0);
    CHECK_EQ_INT(submit(p, 2, "ok"), 0);
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
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(0.3, &p), 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "hang"), 0);
    CHECK_EQ_INT(submit(p, 2, "ok"), 0);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    CHECK_EQ_INT(first_lost_second_ok(&s, PPX_ETIMEOUT), 0);
    CHECK_EQ_INT(s.all[0].err.stage, PPX_STAGE_TIMEOUT);
    double t0 = now_s();
    CHECK_EQ_INT(submit(p, 3, "hang"), 0);
    CHECK_EQ_INT(submit(p, 4, "hang"), 0);
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
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p), 0);
    seen s = {0};
    uint64_t next = 0;
    ppx_err e;
    while (s.n < 60) {
        while (next < 60 && ppx_pool_slots(p, 0) > 0) {
            char what[16];
            snprintf(what, sizeof what, "t%d", (int)next);
            CHECK_EQ_INT(submit(p, next++, what), 0);
        }
        CHECK(ppx_pool_wait(p, 1000, -1, on_result, &s, &e) > 0);
    }
    for (int i = 0; i < 60; i++) {
        char what[16];
        snprintf(what, sizeof what, "t%d", i);
        CHECK_EQ_INT(s.all[i].id, i);
        CHECK_EQ_INT(s.all[i].status, 0);
        CHECK(strcmp(s.reply[i], what) == 0);
    }
    ppx_pool_free(&p, 1);
    return 0;
}

/* Two workers: four slots for small tasks, two for bulk ones; idle workers
 * are filled before any worker gets a second task. */
static int slots_and_pending(void)
{
    ppx_pool *p;
    CHECK_EQ_INT(with_pool_n(10, 2, &p), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 4);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 2);
    CHECK_EQ_INT(ppx_pool_pending(p), 0);
    CHECK_EQ_INT(submit(p, 1, "a"), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 3);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 1);
    CHECK_EQ_INT(submit(p, 2, "a"), 0);
    /* The second went to the idle worker, not behind the first. */
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 2);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 2);
    CHECK_EQ_INT(submit(p, 3, "a"), 0);
    CHECK_EQ_INT(submit(p, 4, "a"), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 4);
    CHECK(submit(p, 5, "a") < 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 4);
    seen s = {0};
    CHECK_EQ_INT(until(p, &s, 4), 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 4);
    ppx_pool_free(&p, 1);
    return 0;
}

/* A task carrying bulk bytes never waits behind a busy worker: a blocked
 * write of megabytes to it could deadlock against its blocked write of a
 * large reply. Nor does a description too long to wait in a pipe. */
static int bulk_needs_idle_worker(void)
{
    ppx_pool *p;
    CHECK_EQ_INT(with_pool(10, &p), 0);
    static uint8_t big[1 << 20];
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 1);
    CHECK_EQ_INT(submit_bulk(p, 1, "a", big, sizeof big), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 0);
    CHECK(submit_bulk(p, 2, "b", big, sizeof big) < 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 1);
    seen s = {0};
    CHECK_EQ_INT(until(p, &s, 1), 0);
    /* Behind a small task, too. */
    CHECK_EQ_INT(submit(p, 3, "c"), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 1), 0);
    CHECK_EQ_INT(ppx_pool_slots(p, 0), 1);
    CHECK(submit_bulk(p, 4, "d", big, sizeof big) < 0);
    static char long_task[PPX_POOL_QUEUE_MAX + 2];
    memset(long_task, 'x', sizeof long_task - 1);
    CHECK(submit(p, 4, long_task) < 0);
    CHECK_EQ_INT(ppx_pool_pending(p), 1);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    CHECK_EQ_INT(s.all[1].id, 3);
    CHECK_EQ_INT(submit_bulk(p, 5, "e", big, sizeof big), 0);
    CHECK_EQ_INT(until(p, &s, 3), 0);
    CHECK_EQ_INT(s.all[2].id, 5);
    CHECK_EQ_INT(s.all[2].status, 0);
    CHECK_EQ_INT(s.all[2].len, 1 + sizeof big);
    /* An empty bulk is still a bulk task: it reaches the worker as such. */
    CHECK_EQ_INT(submit_bulk(p, 6, "f", (const uint8_t *)"", 0), 0);
    CHECK_EQ_INT(until(p, &s, 4), 0);
    CHECK_EQ_INT(s.all[3].len, 1);
    ppx_pool_free(&p, 1);
    return 0;
}

/* A worker holds the descriptors it needs and no others: stdin, stdout,
 * stderr, its two pipe ends and those it was told to keep. Anything else the
 * rank had open when it forked (MPI's sockets and shared memory, the
 * journal, the lock, other workers' pipes) would keep files, locks and
 * connections alive as long as the worker, and let a bug write to them. */
/* What descriptor fd of process pid names, in link. */
static int fd_link(int pid, int fd, char *link, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
    ssize_t n = readlink(path, link, cap - 1);
    if (n <= 0)
        return -1;
    link[n] = '\0';
    return 0;
}

static int worker_fds(void)
{
    int stray = open("/dev/null", O_RDONLY);                /* inherited by fork, like MPI's */
    int stray_cx = open("/dev/null", O_RDONLY | O_CLOEXEC); /* fork ignores CLOEXEC */
    CHECK(stray >= 0 && stray_cx >= 0);
    int in_root = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int out_root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(in_root >= 0 && out_root >= 0);
    /* The folders kept, known by what they name: a worker forked by a
     * zygote holds them under the zygote's numbers. */
    char in_link[256], out_link[256];
    CHECK(fd_link(getpid(), in_root, in_link, sizeof in_link) == 0);
    CHECK(fd_link(getpid(), out_root, out_link, sizeof out_link) == 0);
    ppx_pool_config pc = echo_config(10, 2);
    int keep[] = {in_root, out_root};
    pc.keep_fds = keep;
    pc.n_keep_fds = 2;
    ppx_pool *p;
    ppx_err e;
    CHECK_EQ_INT(ppx_pool_new(&pc, &p, &e), 0);
    /* Both workers have answered once: they are past their start. */
    CHECK_EQ_INT(submit(p, 1, "a"), 0);
    CHECK_EQ_INT(submit(p, 2, "b"), 0);
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
            if (fd <= 2 || strcmp(link, in_link) == 0 || strcmp(link, out_link) == 0)
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
#ifdef POOL_VIA_ZYGOTE
    /* The zygote holds its socket and the pool's folders, nothing of ours. */
    int z = (int)ppx_zygote_pid(the_zygote), socks = 0, dirs = 0;
    for (int fd = 3; fd < 1024; fd++) {
        char link[256];
        if (fd_link(z, fd, link, sizeof link))
            continue;
        if (strncmp(link, "socket:", 7) == 0)
            socks++;
        else if (strcmp(link, in_link) == 0 || strcmp(link, out_link) == 0)
            dirs++;
        else
            CHECK(!"the zygote holds a descriptor of the test's");
    }
    CHECK_EQ_INT(socks, 1);
    CHECK_EQ_INT(dirs, 2);
#endif
    ppx_pool_free(&p, 1);
    close(stray);
    close(stray_cx);
    close(in_root);
    close(out_root);
    return 0;
}

static int probe_pool(uint64_t as_limit, ppx_pool **p)
{
    ppx_pool_config pc = echo_config(10, 1);
    pc.as_limit = as_limit;
    ppx_err e;
    return ppx_pool_new(&pc, p, &e);
}

/* The limit a worker reported (the "rlimit" task): which 0 soft, 1 hard. */
static uint64_t reported_limit(const seen *s, int i, int which)
{
    uint64_t lim[2] = {0, 0};
    if (s->all[i].len == sizeof lim)
        memcpy(lim, s->reply[i], sizeof lim);
    return lim[which];
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
    CHECK_EQ_INT(probe_pool(lim, &p), 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "rlimit"), 0);
    CHECK_EQ_INT(until(p, &s, 1), 0);
    CHECK_EQ_INT(s.all[0].status, 0);
    CHECK_EQ_INT(reported_limit(&s, 0, 0), lim);
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
    CHECK_EQ_INT(probe_pool(hard * 2, &p), 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "rlimit"), 0);
    CHECK_EQ_INT(until(p, &s, 1), 0);
    CHECK_EQ_INT(s.all[0].status, 0);
    CHECK_EQ_INT(reported_limit(&s, 0, 0), hard);
    CHECK_EQ_INT(reported_limit(&s, 0, 1), hard);
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
    CHECK_EQ_INT(probe_pool((uint64_t)48 << 30, &p), 0);
    int pid = ppx_pool_worker_pid(p, 0);
    seen s = {0};
    CHECK_EQ_INT(submit(p, 1, "a"), 0);
    CHECK_EQ_INT(submit(p, 2, "b"), 0);
    CHECK_EQ_INT(until(p, &s, 2), 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(s.all[i].id, i + 1);
        CHECK_EQ_INT(s.all[i].status, PPX_EINTERNAL);
        CHECK_EQ_INT(s.all[i].err.stage, PPX_STAGE_WORKER);
        if (!strstr(s.all[i].err.msg, why) || !strstr(s.all[i].err.msg, "; the task was not")) {
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

PPX_TEST_MAIN(TEST(results_and_crash), TEST(reply_bytes), TEST(hang_times_out),
              TEST(idle_worker_killed), TEST(queued_survives_crash), TEST(queued_survives_kill),
              TEST(submit_to_dead_busy_worker), TEST(queued_survives_timeout), TEST(fifo_order),
              TEST(slots_and_pending), TEST(bulk_needs_idle_worker), TEST(worker_fds),
              TEST(as_limit_set), TEST(lower_hard_limit_kept), TEST(rlimit_fails),
              TEST(pdeathsig_fails))
