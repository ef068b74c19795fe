#include "pool/pool.h"
#include "pool/zygote.h"

#include "prepix/buf.h"
#include "prepix/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Task pipes at least this large hold a second task (see ppx_pool_submit). */
#define QUEUE_PIPE_MIN 65536

/* A task on its pipe: this header, len bytes of data, then (has_bulk)
 * bulk_len bytes of bulk. */
typedef struct {
    uint64_t id, tag;
    uint64_t len;
    uint64_t bulk_len;
    uint32_t has_bulk, pad;
} task_hdr;

typedef struct {
    pid_t pid;
    pid_t lost_pid; /* the pid of the worker reap() took last (its temporary files) */
    int to_fd;      /* tasks: coordinator -> worker */
    int from_fd;    /* results: worker -> coordinator */
    int can_queue;  /* the task pipe holds two small tasks (QUEUE_PIPE_MIN) */
    int n;          /* tasks in flight, 0 to 2; [0] is the head, the one being done */
    uint64_t id[2], tag[2];
    /* When the head started: its submission to an idle worker, or the
     * arrival of the result before it. */
    double started;
    ppx_buf next;    /* the wire bytes of task [1], resent if the worker is lost */
    int next_unsent; /* writing task [1] failed: the worker was dead already */
} worker;

struct ppx_pool {
    ppx_pool_config cfg;
    int keep_fds[PPX_POOL_MAX_KEEP_FDS]; /* a copy: workers are respawned later */
    worker *w;
    int n;
    struct pollfd *pf;    /* n + 1 entries for ppx_pool_wait: the workers and the wake fd */
    ppx_buf payload;      /* coordinator's buffer for returned replies */
    uint32_t zygote_pool; /* with cfg.zygote: this pool's id there (ppx__zygote_define) */
};

int ppx_pool_default_workers(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Reads or writes all n bytes. The coordinator's pipe ends are non-blocking:
 * a worker that stops reading its task or writing its result (frozen,
 * SIGSTOPped) must not block the rank, so EAGAIN waits in poll() until the
 * deadline (a monotonic time; 0: none, for the worker's own blocking ends)
 * and then gives up (-2). -1 on errors and end of file. */
static int io_full(int fd, void *buf, size_t n, int writing, double deadline)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            double left = deadline > 0 ? deadline - ppx_now_s() : 1e9;
            if (left <= 0)
                return -2;
            struct pollfd pf = {.fd = fd, .events = writing ? POLLOUT : POLLIN};
            int ms = left > 3600 ? 3600000 : (int)(left * 1000) + 1;
            if (poll(&pf, 1, ms) < 0 && errno != EINTR)
                return -1;
            continue;
        }
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t n, double deadline)
{
    return io_full(fd, buf, n, 0, deadline);
}

static int write_full(int fd, const void *buf, size_t n, double deadline)
{
    return io_full(fd, (void *)buf, n, 1, deadline);
}

/* In a worker: reads n bytes from the task pipe into b (at least one byte
 * reserved, so that an empty span still has an address). */
static int read_into(int fd, ppx_buf *b, uint64_t n)
{
    b->len = 0;
    if (n > SIZE_MAX || ppx_buf_reserve(b, n ? (size_t)n : 1) || read_full(fd, b->data, n, 0))
        return -1;
    b->len = (size_t)n;
    return 0;
}

/* Runs one task in a worker (or refuses it, see spawn) and writes its result. */
static int worker_task(const ppx_worker_fn *work, void *state, const char *refuse,
                       const ppx_pool_task *t, int out_fd)
{
    const char *noun = work->noun ? work->noun : "task";
    ppx_pool_result r;
    ppx_pool_reply rep = {NULL, 0, NULL, 0};
    memset(&r, 0, sizeof r);
    r.id = t->id;
    r.tag = t->tag;
    if (refuse)
        r.status = ppx_err_set(&r.err, PPX_EINTERNAL, PPX_STAGE_WORKER,
                               "%s; the %s was not processed", refuse, noun);
    else
        work->run(state, work->arg, t, &rep);
    r.len = rep.head_len + rep.body_len;
    if (write_full(out_fd, &r, sizeof r, 0) ||
        (rep.head_len && write_full(out_fd, rep.head, rep.head_len, 0)) ||
        (rep.body_len && write_full(out_fd, rep.body, rep.body_len, 0)))
        return -1;
    return 0;
}

/* The life of a worker process: read a task, do it, write the result.
 * refuse: NULL, or why this worker must not run tasks (see spawn): then
 * each task gets a failure saying so instead. */
static void worker_main(const ppx_pool_config *cfg, int in_fd, int out_fd, const char *refuse)
{
    const ppx_worker_fn *work = &cfg->work;
    void *state = refuse ? NULL : work->start(work->arg);
    if (!state && !refuse)
        _exit(3);
    ppx_buf data, bulk;
    ppx_buf_init(&data);
    ppx_buf_init(&bulk);
    task_hdr h;
    while (read_full(in_fd, &h, sizeof h, 0) == 0) {
        if (read_into(in_fd, &data, h.len) || (h.has_bulk && read_into(in_fd, &bulk, h.bulk_len)))
            _exit(3);
        ppx_pool_task t = {h.id,
                           h.tag,
                           data.data,
                           data.len,
                           h.has_bulk ? bulk.data : NULL,
                           h.has_bulk ? bulk.len : 0};
        if (worker_task(work, state, refuse, &t, out_fd))
            _exit(3);
        if (work->idle && state)
            work->idle(state);
        if (data.cap > work->keep)
            ppx_buf_destroy(&data);
        if (bulk.cap > work->keep)
            ppx_buf_destroy(&bulk);
    }
    /* EOF on the task pipe: the coordinator is done with us. */
    _exit(0);
}

/* In a new worker: closes every descriptor but the n in keep (-1 entries
 * ignored), with close_range between them. Where the kernel lacks
 * close_range (before Linux 5.9), closes up to the descriptor limit. */
static void close_inherited(int *keep, int n)
{
    for (int a = 1; a < n; a++) /* a handful: insertion sort */
        for (int b = a; b > 0 && keep[b - 1] > keep[b]; b--) {
            int t = keep[b];
            keep[b] = keep[b - 1];
            keep[b - 1] = t;
        }
    unsigned lo = 0;
    for (int k = 0; k <= n; k++) {
        unsigned hi = k < n ? (unsigned)keep[k] : ~0U; /* close [lo, hi) */
        if (k < n && keep[k] < 0)
            continue;
        if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) != 0) {
            long max = sysconf(_SC_OPEN_MAX);
            unsigned end = k < n ? hi : max > 0 ? (unsigned)max : 1024;
            for (unsigned fd = lo; fd < end; fd++)
                close((int)fd);
        }
        if (k < n)
            lo = hi + 1;
    }
}

/* Caps this process's address space at bytes. Where the hard limit is lower
 * already (ulimit -Hv, which only a privileged process may raise), that
 * stricter limit stands, soft and hard. 0 or an errno. */
static int limit_address_space(uint64_t bytes)
{
    struct rlimit rl = {(rlim_t)bytes, (rlim_t)bytes};
    if (setrlimit(RLIMIT_AS, &rl) == 0)
        return 0;
    int e = errno;
    if (e == EPERM && getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
        (uint64_t)rl.rlim_max <= bytes) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_AS, &rl) == 0)
            return 0;
        e = errno;
    }
    return e;
}

_Noreturn void ppx__pool_worker_child(const ppx_pool_config *cfg, int in_fd, int out_fd,
                                      pid_t parent)
{
    /* Hold only what the worker needs (close_inherited), so a dead sibling
     * shows EOF to the coordinator, and nothing of the rank's (MPI's sockets
     * and shared memory, the journal, the OUTDIR lock) or of a zygote's (its
     * socket, other pools' folders) outlives it in a worker. */
    int keep[5 + PPX_POOL_MAX_KEEP_FDS] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, in_fd,
                                           out_fd};
    int nk = 5;
    for (int k = 0; k < cfg->n_keep_fds && k < PPX_POOL_MAX_KEEP_FDS; k++)
        keep[nk++] = cfg->keep_fds[k];
    close_inherited(keep, nk);
    /* A worker that cannot be bounded (never outlive the rank, the
     * address-space limit) must not run tasks unbounded. Nor may it
     * just exit: its replacement would fail alike, one fork per task.
     * So it stays and answers each task with a failure naming the
     * cause: one failure per task, at stage worker, and the job goes
     * on (--max-failures stops it if the user wants). */
    char refuse[256] = "";
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        snprintf(refuse, sizeof refuse,
                 "the worker cannot be tied to its rank (prctl PR_SET_PDEATHSIG): %s",
                 strerror(errno));
    if (getppid() != parent) /* the rank died before the line above took effect */
        _exit(0);
    signal(SIGINT, SIG_IGN); /* the coordinator decides when to stop */
    signal(SIGTERM, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGPIPE, SIG_DFL);
    int e = !refuse[0] && cfg->as_limit ? limit_address_space(cfg->as_limit) : 0;
    if (e)
        snprintf(refuse, sizeof refuse,
                 "the worker cannot set its address-space limit of %llu bytes: %s",
                 (unsigned long long)cfg->as_limit, strerror(e));
    worker_main(cfg, in_fd, out_fd, refuse[0] ? refuse : NULL);
    _exit(0);
}

static int spawn(ppx_pool *p, int i, ppx_err *err)
{
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) != 0)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "pipe: %s", strerror(errno));
    if (pipe2(from, O_CLOEXEC) != 0) {
        close(to[0]);
        close(to[1]);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "pipe: %s", strerror(errno));
    }
    pid_t pid = -1;
    if (p->cfg.zygote) {
        /* The zygote forks the worker (pool/zygote.h): this process, which
         * may hold an initialised MPI, never does. */
        int rc = ppx__zygote_spawn(p->cfg.zygote, p->zygote_pool, to[0], from[1], &pid, err);
        if (rc) {
            close(to[0]);
            close(to[1]);
            close(from[0]);
            close(from[1]);
            return rc;
        }
    } else {
        fflush(NULL); /* no buffered output duplicated into the child */
        pid_t parent = getpid();
        pid = fork();
        if (pid < 0) {
            close(to[0]);
            close(to[1]);
            close(from[0]);
            close(from[1]);
            return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "fork: %s", strerror(errno));
        }
        if (pid == 0)
            ppx__pool_worker_child(&p->cfg, to[0], from[1], parent);
    }
    close(to[0]);
    close(from[1]);
    fcntl(to[1], F_SETFL, fcntl(to[1], F_GETFL) | O_NONBLOCK);
    fcntl(from[0], F_SETFL, fcntl(from[0], F_GETFL) | O_NONBLOCK);
    worker *w = &p->w[i];
    w->pid = pid;
    w->to_fd = to[1];
    w->from_fd = from[0];
    /* 64 KiB is Linux's default; a user over pipe-user-pages-soft gets one
     * page, and then the worker takes one task at a time. */
    int cap = fcntl(to[1], F_GETPIPE_SZ);
    if (cap >= 0 && cap < QUEUE_PIPE_MIN)
        cap = fcntl(to[1], F_SETPIPE_SZ, QUEUE_PIPE_MIN);
    w->can_queue = cap >= QUEUE_PIPE_MIN;
    return 0;
}

int ppx_pool_new(const ppx_pool_config *cfg, ppx_pool **out, ppx_err *err)
{
    ppx_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    p->cfg = *cfg;
    p->cfg.n_keep_fds = 0;
    for (int i = 0; i < cfg->n_keep_fds && i < PPX_POOL_MAX_KEEP_FDS; i++)
        p->keep_fds[p->cfg.n_keep_fds++] = cfg->keep_fds[i];
    p->cfg.keep_fds = p->keep_fds;
    p->n = cfg->workers > 0 ? cfg->workers : 1;
    p->w = calloc((size_t)p->n, sizeof *p->w);
    p->pf = calloc((size_t)p->n + 1, sizeof *p->pf);
    ppx_buf_init(&p->payload);
    if (!p->w || !p->pf) {
        free(p->w);
        free(p->pf);
        free(p);
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    }
    for (int i = 0; i < p->n; i++)
        ppx_buf_init(&p->w[i].next);
    signal(SIGPIPE, SIG_IGN); /* a dead worker is seen through EOF, not SIGPIPE */
    if (cfg->zygote) {
        int rc = ppx__zygote_define(cfg->zygote, cfg->zygote_kind, cfg->keep_fds, cfg->n_keep_fds,
                                    cfg->as_limit, &p->zygote_pool, err);
        if (rc) {
            p->cfg.zygote = NULL; /* nothing to undefine */
            ppx_pool_free(&p, 0);
            return rc;
        }
    }
    for (int i = 0; i < p->n; i++) {
        int rc = spawn(p, i, err);
        if (rc) {
            ppx_pool_free(&p, 0);
            return rc;
        }
    }
    *out = p;
    return 0;
}

int ppx_pool_slots(const ppx_pool *p, int with_bulk)
{
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        const worker *w = &p->w[i];
        if (w->pid <= 0)
            continue;
        if (w->n == 0)
            n++;
        if (!with_bulk && w->can_queue && w->n < 2)
            n++;
    }
    return n;
}

int ppx_pool_pending(const ppx_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->n; i++)
        n += p->w[i].n;
    return n;
}

int ppx_pool_worker_pid(const ppx_pool *p, int i)
{
    return i >= 0 && i < p->n ? (int)p->w[i].pid : -1;
}

static void reap(worker *w, int *status);

/* What the work calls a task, in messages. */
static const char *task_noun(const ppx_pool *p)
{
    return p->cfg.work.noun ? p->cfg.work.noun : "task";
}
static int spawn(ppx_pool *p, int i, ppx_err *err);

/* The latest time the coordinator waits on a worker's pipe for a task that
 * started at start: the task timeout (--timeout) (0: no limit). */
static double task_deadline(const ppx_pool *p, double start)
{
    return p->cfg.timeout_s > 0 ? start + p->cfg.timeout_s : 0;
}

/* 0, -1 (the worker is gone) or -2 (it did not read in time). */
static int send_task(const worker *w, const task_hdr *h, const ppx_pool_task *t, double deadline)
{
    int rc = write_full(w->to_fd, h, sizeof *h, deadline);
    rc = rc || !t->len ? rc : write_full(w->to_fd, t->data, t->len, deadline);
    return rc || !t->bulk_len ? rc : write_full(w->to_fd, t->bulk, t->bulk_len, deadline);
}

/* Kills worker i if it still lives and forks its replacement. */
static int respawn(ppx_pool *p, int i, int *status, ppx_err *err)
{
    worker *w = &p->w[i];
    kill(w->pid, SIGKILL); /* it may have closed its pipes and still be alive */
    reap(w, status);
    return spawn(p, i, err);
}

/* Task [1] becomes the head, started at t. fresh: the worker was just
 * forked and needs the task's bytes; they also go to a new worker if the old
 * one never got them. */
static int advance(ppx_pool *p, int i, double t, int fresh, ppx_err *err)
{
    worker *w = &p->w[i];
    w->id[0] = w->id[1];
    w->tag[0] = w->tag[1];
    w->n = 1;
    w->started = t;
    int rc = 0;
    if (!fresh && w->next_unsent) {
        int status;
        rc = respawn(p, i, &status, err);
        w = &p->w[i];
        fresh = !rc;
    }
    /* If this write fails too, the wait reports the task as a worker failure. */
    if (fresh)
        (void)write_full(w->to_fd, w->next.data, w->next.len, task_deadline(p, t));
    if (rc)
        w->n = 0; /* fatal for the run; nothing of this slot is waited for */
    w->next_unsent = 0;
    w->next.len = 0;
    return rc;
}

/* The worker that takes a task: an idle one, else (queueable) the busy
 * one whose head started first, likely the first to finish; -1: none. */
static int pick_worker(const ppx_pool *p, int queueable)
{
    for (int k = 0; k < p->n; k++)
        if (p->w[k].pid > 0 && p->w[k].n == 0)
            return k;
    int i = -1;
    for (int k = 0; k < p->n && queueable; k++) {
        const worker *c = &p->w[k];
        if (c->pid > 0 && c->n == 1 && c->can_queue && (i < 0 || c->started < p->w[i].started))
            i = k;
    }
    return i;
}

/* Puts task t (header h) behind the head of busy worker i. */
static int queue_task(ppx_pool *p, int i, const task_hdr *h, const ppx_pool_task *t, ppx_err *err)
{
    worker *w = &p->w[i];
    /* Keep the bytes: if the head's worker is lost, this task goes to the
     * new one. A failed write means the worker is dead: the wait sees it
     * and does just that (or, should the head's result still come, hands
     * the task to a fresh worker then). */
    size_t n = sizeof *h + t->len;
    if (ppx_buf_reserve(&w->next, n))
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    memcpy(w->next.data, h, sizeof *h);
    if (t->len)
        memcpy(w->next.data + sizeof *h, t->data, t->len);
    w->next.len = n;
    w->next_unsent = write_full(w->to_fd, w->next.data, n, task_deadline(p, ppx_now_s())) != 0;
    w->id[1] = t->id;
    w->tag[1] = t->tag;
    w->n = 2;
    return 0;
}

int ppx_pool_submit(ppx_pool *p, const ppx_pool_task *t, ppx_err *err)
{
    task_hdr h = {.id = t->id,
                  .tag = t->tag,
                  .len = t->len,
                  .has_bulk = t->bulk != NULL,
                  .bulk_len = t->bulk ? t->bulk_len : 0};
    /* A second task waits in the pipe of a busy worker. The coordinator must
     * never block writing it: the worker may itself be blocked writing a large
     * result that only the coordinator reads, and neither would go on. So only
     * small tasks queue: a pipe of QUEUE_PIPE_MIN bytes holds one (at most
     * PPX_POOL_QUEUE_MAX bytes) beside whatever is left of the head's bytes,
     * which the worker reads without our help before it does the head. A
     * task carrying bulk bytes (--transport bytes: an input file, megabytes)
     * goes to an idle worker only, which reads it as we write. */
    int queueable = !t->bulk && t->len <= PPX_POOL_QUEUE_MAX;
    int i = pick_worker(p, queueable);
    if (i < 0)
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_JOB, "no free worker slot");
    worker *w = &p->w[i];
    if (w->n == 1)
        return queue_task(p, i, &h, t, err);
    /* The task's time starts now, writing its bytes included: a worker that
     * stops reading them (frozen) is killed at --timeout like any other. */
    double started = ppx_now_s();
    int sent = send_task(w, &h, t, task_deadline(p, started));
    if (sent == -1) {
        /* The worker died while idle (killed from outside): this task is
         * not its fault. Replace the worker and hand the task to the new one;
         * if that fails too, the wait reports the task as a worker failure. */
        int status;
        int rc = respawn(p, i, &status, err);
        if (rc)
            return rc;
        w = &p->w[i];
        (void)send_task(w, &h, t, task_deadline(p, started));
    }
    /* sent == -2: past its deadline already; the next wait kills the worker
     * and reports the task as timed out. */
    w->n = 1;
    w->id[0] = t->id;
    w->tag[0] = t->tag;
    w->started = started;
    return 0;
}

static void reap(worker *w, int *status)
{
    while (waitpid(w->pid, status, 0) < 0 && errno == EINTR)
        ;
    close(w->to_fd);
    close(w->from_fd);
    w->lost_pid = w->pid;
    w->pid = -1;
}

/* Reports the head task of a lost worker (already reaped), replaces the
 * worker and hands it the queued task, if any. */
static int replace(ppx_pool *p, int i, int timed_out, int status, ppx_pool_cb cb, void *arg,
                   ppx_err *err)
{
    worker *w = &p->w[i];
    double t = ppx_now_s();
    if (w->n > 0) {
        const char *noun = task_noun(p);
        ppx_pool_result r;
        memset(&r, 0, sizeof r);
        r.id = w->id[0];
        r.tag = w->tag[0];
        r.worker_pid = (int32_t)w->lost_pid;
        r.busy_s = t - w->started;
        if (timed_out) {
            r.status = ppx_err_set(&r.err, PPX_ETIMEOUT, PPX_STAGE_TIMEOUT,
                                   "worker stuck for more than %g s on this %s; killed",
                                   p->cfg.timeout_s, noun);
        } else if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);
            r.status = ppx_err_set(&r.err, PPX_ECRASH, PPX_STAGE_WORKER,
                                   "worker killed by signal SIG%s (%s)%s",
                                   sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", strsignal(sig),
                                   sig == SIGKILL ? ": out of memory, or killed from outside" : "");
        } else {
            r.status = ppx_err_set(&r.err, PPX_ECRASH, PPX_STAGE_WORKER,
                                   "worker exited with status %d", WEXITSTATUS(status));
        }
        cb(arg, &r, NULL);
    }
    int rc = spawn(p, i, err);
    w = &p->w[i];
    if (rc) {
        w->n = 0; /* fatal for the run; nothing of this slot is waited for */
        return rc;
    }
    if (w->n == 2)
        return advance(p, i, t, 1, err);
    w->n = 0;
    return 0;
}

/* Reads the result of worker i's head and passes it to cb; a worker whose
 * result is not the head's, or does not come whole in the task's time, is
 * killed and replaced, and its head reported lost. */
static int take_result(ppx_pool *p, int i, double t, ppx_pool_cb cb, void *arg, ppx_err *err)
{
    worker *w = &p->w[i];
    ppx_pool_result r;
    /* A result is read within the task's time: a worker frozen halfway
     * through writing it must not hang the rank. */
    double deadline = task_deadline(p, w->started);
    int got = read_full(w->from_fd, &r, sizeof r, deadline);
    /* A worker handles untrusted input: its strings are cut to their arrays
     * before anyone prints or copies them. */
    r.err.msg[sizeof r.err.msg - 1] = '\0';
    /* Results come in the order of the tasks: anything but the head's is a
     * worker gone wrong. */
    if (got == 0 && r.id == w->id[0] && r.tag == w->tag[0]) {
        const uint8_t *reply = NULL;
        if (r.len) {
            p->payload.len = 0;
            if (r.len > SIZE_MAX || ppx_buf_reserve(&p->payload, (size_t)r.len))
                got = -1;
            else
                got = read_full(w->from_fd, p->payload.data, (size_t)r.len, deadline);
            reply = p->payload.data;
        }
        if (got == 0) {
            cb(arg, &r, reply);
            /* The queued task, already in the worker's pipe, started when
             * this result arrived (at the latest). */
            if (w->n == 2)
                return advance(p, i, t, 0, err);
            w->n = 0;
            return 0;
        }
    }
    int status = 0;
    kill(w->pid, SIGKILL); /* it may have closed the pipe and still be alive */
    reap(w, &status);
    return replace(p, i, got == -2, status, cb, arg, err);
}

int ppx_pool_wait(ppx_pool *p, int timeout_ms, int wake_fd, ppx_pool_cb cb, void *arg, ppx_err *err)
{
    struct pollfd *pf = p->pf;
    double t = ppx_now_s();
    int wait_ms = timeout_ms;
    for (int i = 0; i < p->n; i++) {
        pf[i] = (struct pollfd){.fd = p->w[i].n ? p->w[i].from_fd : -1, .events = POLLIN};
        if (p->w[i].n && p->cfg.timeout_s > 0) {
            double left = p->w[i].started + p->cfg.timeout_s - t;
            int ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
            if (wait_ms < 0 || ms < wait_ms)
                wait_ms = ms;
        }
    }
    pf[p->n] = (struct pollfd){.fd = wake_fd, .events = POLLIN};
    int n = poll(pf, (nfds_t)p->n + 1, wait_ms);
    if (n < 0 && errno != EINTR)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "poll: %s", strerror(errno));
    int done = 0, rc = 0;
    t = ppx_now_s();
    for (int i = 0; i < p->n && rc == 0; i++) {
        worker *w = &p->w[i];
        if (!w->n)
            continue;
        if (n > 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
            rc = take_result(p, i, t, cb, arg, err);
            done++;
        } else if (p->cfg.timeout_s > 0 && t - w->started >= p->cfg.timeout_s) {
            int status;
            kill(w->pid, SIGKILL);
            reap(w, &status);
            rc = replace(p, i, 1, status, cb, arg, err);
            done++;
        }
    }
    return rc ? rc : done;
}

void ppx_pool_free(ppx_pool **pp, double grace_s)
{
    if (!pp || !*pp)
        return;
    ppx_pool *p = *pp;
    /* EOF on the task pipe ends an idle worker. */
    for (int i = 0; i < p->n; i++)
        if (p->w[i].pid > 0)
            close(p->w[i].to_fd);
    double deadline = ppx_now_s() + grace_s;
    for (int i = 0; i < p->n; i++) {
        worker *w = &p->w[i];
        if (w->pid <= 0)
            continue;
        /* Wait for the child to exit, at most until the deadline, then
         * SIGKILL: a worker stuck in a decode must never hang its rank. A
         * pidfd turns "exited" into a poll event (no sleeping); EINTR is a
         * retry, never an end of file. */
        int pfd = (int)syscall(SYS_pidfd_open, w->pid, 0);
        for (;;) {
            int status;
            pid_t r = waitpid(w->pid, &status, WNOHANG);
            if (r == w->pid || (r < 0 && errno != EINTR))
                break;
            double left = deadline - ppx_now_s();
            if (left <= 0) {
                kill(w->pid, SIGKILL);
                while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
                    ;
                break;
            }
            /* Drain its last result (it may block writing it) or see it exit. */
            struct pollfd fds[2] = {{.fd = w->from_fd, .events = POLLIN},
                                    {.fd = pfd, .events = POLLIN}};
            int ms = (int)(left * 1000) + 1;
            if (poll(fds, pfd >= 0 ? 2 : 1, ms) > 0 && (fds[0].revents & (POLLIN | POLLHUP))) {
                char sink[PIPE_BUF];
                ssize_t n = read(w->from_fd, sink, sizeof sink);
                if (n == 0 && pfd < 0) {
                    /* No pidfd (an old kernel): the pipe's end is the best sign. */
                    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
                        ;
                    break;
                }
                if (n == 0) { /* its end: now wait on the pidfd alone */
                    close(w->from_fd);
                    w->from_fd = -1;
                }
            }
        }
        if (pfd >= 0)
            close(pfd);
        if (w->from_fd >= 0)
            close(w->from_fd);
        w->pid = -1;
    }
    if (p->cfg.zygote && p->zygote_pool)
        ppx__zygote_undefine(p->cfg.zygote, p->zygote_pool);
    for (int i = 0; i < p->n; i++)
        ppx_buf_destroy(&p->w[i].next);
    ppx_buf_destroy(&p->payload);
    free(p->pf);
    free(p->w);
    free(p);
    *pp = NULL;
}
