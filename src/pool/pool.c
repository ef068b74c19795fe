#include "pool/pool.h"

#include "prepix/clock.h"

#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

/* A worker keeps an input buffer up to this size between tasks. */
#define KEEP_MAX ((size_t)16 << 20)
/* Size of a worker's path buffers: longer strings end the worker. */
#define STR_CAP 4096
/* Task pipes at least this large hold a second task (see ppx_pool_submit). */
#define QUEUE_PIPE_MIN 65536

typedef struct {
    uint64_t id, tag;
    uint32_t in_len, key_len, out_len;
    uint32_t has_payload;
    uint64_t payload_len;
    uint64_t m_off, m_size; /* an archive member's bytes (arc_len > 0) */
    uint32_t arc_len, part_mask;
    ppx_arc_ident arc;
    uint64_t part_off[PPX_SPAN_PARTS], part_size[PPX_SPAN_PARTS];
} task_hdr;

typedef struct {
    pid_t pid;
    pid_t lost_pid; /* the pid of the worker reap() took last (its temporary files) */
    int to_fd;      /* tasks: coordinator -> worker */
    int from_fd;    /* results: worker -> coordinator */
    int can_queue;  /* the task pipe holds two tasks of paths (QUEUE_PIPE_MIN) */
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
    ppx_buf payload; /* coordinator's buffer for returned outputs */
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

static int read_str(int fd, uint32_t len, char *out, size_t cap)
{
    if (len >= cap)
        return -1;
    if (read_full(fd, out, len, 0))
        return -1;
    out[len] = '\0';
    return 0;
}

/* The life of a worker process: read a task, do it, write the result.
 * refuse: NULL, or why this worker must not run images (see spawn): then
 * each task gets a failure saying so instead. */
static void worker_main(const ppx_pool_config *cfg, int in_fd, int out_fd, const char *refuse)
{
    const ppx_worker_fn *work = &cfg->work;
    void *state = refuse ? NULL : work->start(work->arg);
    if (!state && !refuse)
        _exit(3);
    ppx_buf input;
    ppx_buf_init(&input);
    char in_path[STR_CAP], key[STR_CAP], out_path[STR_CAP];
    task_hdr h;
    while (read_full(in_fd, &h, sizeof h, 0) == 0) {
        if (read_str(in_fd, h.in_len, in_path, sizeof in_path) ||
            read_str(in_fd, h.key_len, key, sizeof key) ||
            read_str(in_fd, h.out_len, out_path, sizeof out_path))
            _exit(3);
        ppx_span span = {h.m_off, h.m_size, h.arc_len, h.arc, h.part_mask, {0}, {0}};
        memcpy(span.part_off, h.part_off, sizeof span.part_off);
        memcpy(span.part_size, h.part_size, sizeof span.part_size);
        ppx_task t = {.id = h.id,
                      .tag = h.tag,
                      .in_path = in_path,
                      .key = key,
                      .out_path = h.out_len ? out_path : NULL,
                      .span = h.arc_len ? &span : NULL};
        if (h.has_payload) {
            input.len = 0;
            if (ppx_buf_reserve(&input, h.payload_len ? h.payload_len : 1) ||
                read_full(in_fd, input.data, h.payload_len, 0))
                _exit(3);
            input.len = h.payload_len;
            t.input = &input;
        }
        ppx_result r;
        const uint8_t *out = NULL;
        memset(&r, 0, sizeof r);
        if (refuse)
            r.status = ppx_err_set(&r.err, PPX_EINTERNAL, PPX_STAGE_WORKER,
                                   "%s; the image was not processed", refuse);
        else
            work->run(state, work->arg, &t, &r, &out);
        r.id = h.id;
        r.tag = h.tag;
        if (write_full(out_fd, &r, sizeof r, 0) ||
            (r.out_len && write_full(out_fd, out, r.out_len, 0)))
            _exit(3);
        if (work->idle && state)
            work->idle(state);
        if (input.cap > KEEP_MAX)
            ppx_buf_destroy(&input);
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
    fflush(NULL); /* no buffered output duplicated into the child */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* Child: hold only what the worker needs (close_inherited), so a
         * dead sibling shows EOF to the coordinator, and nothing of the
         * rank's (MPI's sockets and shared memory, the journal, the OUTDIR
         * lock) outlives it in a worker. */
        int keep[5 + PPX_POOL_MAX_KEEP_FDS] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, to[0],
                                               from[1]};
        int nk = 5;
        for (int k = 0; k < p->cfg.n_keep_fds; k++)
            keep[nk++] = p->keep_fds[k];
        close_inherited(keep, nk);
        /* A worker that cannot be bounded (never outlive the rank, the
         * address-space limit) must not run images unbounded. Nor may it
         * just exit: its replacement would fail alike, one fork per image.
         * So it stays and answers each task with a failure naming the
         * cause: one failure per image, at stage worker, and the job goes
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
        int e = !refuse[0] && p->cfg.as_limit ? limit_address_space(p->cfg.as_limit) : 0;
        if (e)
            snprintf(refuse, sizeof refuse,
                     "the worker cannot set its address-space limit of %llu bytes: %s",
                     (unsigned long long)p->cfg.as_limit, strerror(e));
        worker_main(&p->cfg, to[0], from[1], refuse[0] ? refuse : NULL);
        _exit(0);
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
    ppx_buf_init(&p->payload);
    if (!p->w) {
        free(p);
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    }
    for (int i = 0; i < p->n; i++)
        ppx_buf_init(&p->w[i].next);
    signal(SIGPIPE, SIG_IGN); /* a dead worker is seen through EOF, not SIGPIPE */
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

int ppx_pool_slots(const ppx_pool *p, int with_payload)
{
    int n = 0;
    for (int i = 0; i < p->n; i++) {
        const worker *w = &p->w[i];
        if (w->pid <= 0)
            continue;
        if (w->n == 0)
            n++;
        if (!with_payload && w->can_queue && w->n < 2)
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

int ppx_pool_size(const ppx_pool *p)
{
    return p->n;
}

static void reap(worker *w, int *status);
static int spawn(ppx_pool *p, int i, ppx_err *err);

/* The latest time the coordinator waits on a worker's pipe for a task that
 * started at start: the image's --timeout (0: no limit). */
static double task_deadline(const ppx_pool *p, double start)
{
    return p->cfg.timeout_s > 0 ? start + p->cfg.timeout_s : 0;
}

/* 0, -1 (the worker is gone) or -2 (it did not read in time). */
static int send_task(const worker *w, const task_hdr *h, const char *in_path, const char *key,
                     const char *out_path, const uint8_t *input, size_t len, double deadline)
{
    int rc = write_full(w->to_fd, h, sizeof *h, deadline);
    rc = rc ? rc : write_full(w->to_fd, in_path, h->in_len, deadline);
    rc = rc ? rc : write_full(w->to_fd, key, h->key_len, deadline);
    rc = rc || !out_path ? rc : write_full(w->to_fd, out_path, h->out_len, deadline);
    return rc || !input ? rc : write_full(w->to_fd, input, len, deadline);
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
    /* If this write fails too, the wait reports the image as a worker failure. */
    if (fresh)
        (void)write_full(w->to_fd, w->next.data, w->next.len, task_deadline(p, t));
    if (rc)
        w->n = 0; /* fatal for the run; nothing of this slot is waited for */
    w->next_unsent = 0;
    w->next.len = 0;
    return rc;
}

int ppx_pool_submit(ppx_pool *p, uint64_t id, uint64_t tag, const char *in_path,
                    const ppx_span *span, const char *key, const char *out_path,
                    const uint8_t *input, size_t len, ppx_err *err)
{
    task_hdr h = {.id = id,
                  .tag = tag,
                  .m_off = span ? span->off : 0,
                  .m_size = span ? span->size : 0,
                  .arc_len = span ? span->arc_len : 0,
                  .arc = span ? span->arc : (ppx_arc_ident){{0, 0, 0}, 0, 0},
                  .in_len = (uint32_t)strlen(in_path),
                  .key_len = (uint32_t)strlen(key),
                  .out_len = out_path ? (uint32_t)strlen(out_path) : 0,
                  .has_payload = input != NULL,
                  .payload_len = input ? len : 0,
                  .part_mask = span ? span->part_mask : 0};
    if (span) {
        memcpy(h.part_off, span->part_off, sizeof h.part_off);
        memcpy(h.part_size, span->part_size, sizeof h.part_size);
    }
    /* A second task waits in the pipe of a busy worker. The coordinator must
     * never block writing it: the worker may itself be blocked writing a large
     * result that only the coordinator reads, and neither would go on. So only
     * tasks of paths queue: they are small (at most three strings under
     * STR_CAP), and a pipe of QUEUE_PIPE_MIN bytes holds one beside whatever
     * is left of the head's bytes, which the worker reads without our help
     * before it does the head. A task carrying its input (--transport bytes;
     * megabytes) goes to an idle worker only, which reads it as we write. */
    int queueable = !input && h.in_len < STR_CAP && h.key_len < STR_CAP && h.out_len < STR_CAP;
    int i = -1;
    for (int k = 0; k < p->n && i < 0; k++)
        if (p->w[k].pid > 0 && p->w[k].n == 0)
            i = k;
    if (i < 0 && queueable) {
        /* Behind the head that started first: likely the first to finish. */
        for (int k = 0; k < p->n; k++) {
            const worker *c = &p->w[k];
            if (c->pid > 0 && c->n == 1 && c->can_queue && (i < 0 || c->started < p->w[i].started))
                i = k;
        }
    }
    if (i < 0)
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_JOB, "no free worker slot");
    worker *w = &p->w[i];
    if (w->n == 1) {
        /* Keep the bytes: if the head's worker is lost, this task goes to the
         * new one. A failed write means the worker is dead: the wait sees it
         * and does just that (or, should the head's result still come, hands
         * the task to a fresh worker then). */
        size_t n = sizeof h + h.in_len + h.key_len + h.out_len;
        if (ppx_buf_reserve(&w->next, n))
            return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
        uint8_t *q = w->next.data;
        memcpy(q, &h, sizeof h);
        memcpy(q + sizeof h, in_path, h.in_len);
        memcpy(q + sizeof h + h.in_len, key, h.key_len);
        if (out_path)
            memcpy(q + sizeof h + h.in_len + h.key_len, out_path, h.out_len);
        w->next.len = n;
        w->next_unsent = write_full(w->to_fd, q, n, task_deadline(p, ppx_now_s())) != 0;
        w->id[1] = id;
        w->tag[1] = tag;
        w->n = 2;
        return 0;
    }
    /* The image's time starts now, writing its bytes included: a worker that
     * stops reading them (frozen) is killed at --timeout like any other. */
    double started = ppx_now_s();
    int sent = send_task(w, &h, in_path, key, out_path, input, len, task_deadline(p, started));
    if (sent == -1) {
        /* The worker died while idle (killed from outside): this image is
         * not its fault. Replace the worker and hand the image to the new one;
         * if that fails too, the wait reports the image as a worker failure. */
        int status;
        int rc = respawn(p, i, &status, err);
        if (rc)
            return rc;
        w = &p->w[i];
        (void)send_task(w, &h, in_path, key, out_path, input, len, task_deadline(p, started));
    }
    /* sent == -2: past its deadline already; the next wait kills the worker
     * and reports the image as timed out. */
    w->n = 1;
    w->id[0] = id;
    w->tag[0] = tag;
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

/* Reports the head image of a lost worker (already reaped), replaces the
 * worker and hands it the queued task, if any. */
static int replace(ppx_pool *p, int i, int timed_out, int status, ppx_pool_cb cb, void *arg,
                   ppx_err *err)
{
    worker *w = &p->w[i];
    double t = ppx_now_s();
    if (w->n > 0) {
        ppx_result r;
        memset(&r, 0, sizeof r);
        r.id = w->id[0];
        r.tag = w->tag[0];
        r.worker_pid = (int32_t)w->lost_pid;
        r.busy_s = t - w->started;
        if (timed_out) {
            r.status = ppx_err_set(&r.err, PPX_ETIMEOUT, PPX_STAGE_TIMEOUT,
                                   "worker stuck for more than %g s on this image; killed",
                                   p->cfg.timeout_s);
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

int ppx_pool_wait(ppx_pool *p, int timeout_ms, int wake_fd, ppx_pool_cb cb, void *arg, ppx_err *err)
{
    struct pollfd *pf = calloc((size_t)p->n + 1, sizeof *pf);
    if (!pf)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    double t = ppx_now_s();
    int wait_ms = timeout_ms;
    int nf = 0;
    for (int i = 0; i < p->n; i++) {
        pf[nf++] = (struct pollfd){.fd = p->w[i].n ? p->w[i].from_fd : -1, .events = POLLIN};
        if (p->w[i].n && p->cfg.timeout_s > 0) {
            double left = p->w[i].started + p->cfg.timeout_s - t;
            int ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
            if (wait_ms < 0 || ms < wait_ms)
                wait_ms = ms;
        }
    }
    pf[nf++] = (struct pollfd){.fd = wake_fd, .events = POLLIN};
    int n = poll(pf, (nfds_t)nf, wait_ms);
    int done = 0, rc = 0;
    if (n < 0 && errno != EINTR) {
        free(pf);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "poll: %s", strerror(errno));
    }
    t = ppx_now_s();
    for (int i = 0; i < p->n && rc == 0; i++) {
        worker *w = &p->w[i];
        if (!w->n)
            continue;
        if (n > 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
            ppx_result r;
            /* Results come in the order of the tasks: anything but the
             * head's is a worker gone wrong. */
            /* A result is read within the image's time: a worker frozen
             * halfway through writing it must not hang the rank. */
            double deadline = task_deadline(p, w->started);
            int got = read_full(w->from_fd, &r, sizeof r, deadline);
            /* A worker decodes untrusted input: its strings are cut to
             * their arrays before anyone prints or copies them. */
            r.err.path[sizeof r.err.path - 1] = '\0';
            r.err.msg[sizeof r.err.msg - 1] = '\0';
            if (got == 0 && r.id == w->id[0] && r.tag == w->tag[0]) {
                const uint8_t *payload = NULL;
                if (r.out_len) {
                    p->payload.len = 0;
                    if (ppx_buf_reserve(&p->payload, r.out_len))
                        goto lost;
                    got = read_full(w->from_fd, p->payload.data, r.out_len, deadline);
                    if (got)
                        goto lost;
                    payload = p->payload.data;
                }
                cb(arg, &r, payload);
                done++;
                /* The queued task, already in the worker's pipe, started
                 * when this result arrived (at the latest). */
                if (w->n == 2)
                    rc = advance(p, i, t, 0, err);
                else
                    w->n = 0;
                continue;
            }
        lost:;
            int status = 0;
            kill(w->pid, SIGKILL); /* it may have closed the pipe and still be alive */
            reap(w, &status);
            rc = replace(p, i, got == -2, status, cb, arg, err);
            done++;
        } else if (p->cfg.timeout_s > 0 && t - w->started >= p->cfg.timeout_s) {
            int status;
            kill(w->pid, SIGKILL);
            reap(w, &status);
            rc = replace(p, i, 1, status, cb, arg, err);
            done++;
        }
    }
    free(pf);
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
                char sink[4096];
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
    for (int i = 0; i < p->n; i++)
        ppx_buf_destroy(&p->w[i].next);
    ppx_buf_destroy(&p->payload);
    free(p->w);
    free(p);
    *pp = NULL;
}
