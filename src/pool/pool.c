#include "pool/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A worker keeps buffers up to this size between images (see ppx_job_ctx_trim). */
#define KEEP_MAX ((size_t)16 << 20)

typedef struct {
    uint64_t id, tag;
    uint32_t in_len, key_len, out_len;
    uint32_t has_payload;
    uint64_t payload_len;
} task_hdr;

typedef struct {
    pid_t pid;
    int to_fd;   /* tasks: coordinator -> worker */
    int from_fd; /* results: worker -> coordinator */
    int busy;
    uint64_t id, tag;
    double started;
} worker;

struct ppx_pool {
    ppx_pool_config cfg;
    worker *w;
    int n;
    ppx_buf payload; /* coordinator's buffer for returned outputs */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

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

static int read_full(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int read_str(int fd, uint32_t len, char *out, size_t cap)
{
    if (len >= cap)
        return -1;
    if (read_full(fd, out, len))
        return -1;
    out[len] = '\0';
    return 0;
}

/* The life of a worker process: read a task, do it, write the result. */
static void worker_main(const ppx_pool_config *cfg, int in_fd, int out_fd)
{
    /* Keep large blocks (libjpeg's coefficient buffers, pixel buffers) in
     * the heap between images instead of mmap/munmap for each: the kernel
     * would fault in and zero them anew every time (7% of a thumbnail run). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    ppx_job_ctx ctx;
    if (ppx_job_ctx_init(&ctx))
        _exit(3);
    ppx_buf input;
    ppx_buf_init(&input);
    char in_path[4096], key[4096], out_path[4096];
    task_hdr h;
    while (read_full(in_fd, &h, sizeof h) == 0) {
        if (read_str(in_fd, h.in_len, in_path, sizeof in_path) ||
            read_str(in_fd, h.key_len, key, sizeof key) ||
            read_str(in_fd, h.out_len, out_path, sizeof out_path))
            _exit(3);
        const ppx_buf *inp = NULL;
        if (h.has_payload) {
            input.len = 0;
            if (ppx_buf_reserve(&input, h.payload_len ? h.payload_len : 1) ||
                read_full(in_fd, input.data, h.payload_len))
                _exit(3);
            input.len = h.payload_len;
            inp = &input;
        }
        ppx_result r;
        r.id = h.id;
        r.tag = h.tag;
        ppx_job_run(cfg->job, &ctx, in_path, key, h.out_len ? out_path : NULL, inp, &r);
        if (write_full(out_fd, &r, sizeof r) ||
            (r.out_len && write_full(out_fd, ctx.out.data, r.out_len)))
            _exit(3);
        /* Big buffers go back to the heap, where the next image's decoder
         * can reuse them, instead of each staying at its own maximum. */
        ppx_job_ctx_trim(&ctx, KEEP_MAX);
        if (input.cap > KEEP_MAX)
            ppx_buf_destroy(&input);
    }
    /* EOF on the task pipe: the coordinator is done with us. */
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
    fflush(NULL); /* no buffered output duplicated into the child */
    pid_t pid = fork();
    if (pid < 0) {
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* Child: hold only our own pipe ends, or a dead sibling would never
         * show EOF to the coordinator. */
        for (int k = 0; k < p->n; k++) {
            if (k == i || p->w[k].pid <= 0)
                continue;
            close(p->w[k].to_fd);
            close(p->w[k].from_fd);
        }
        for (int k = 0; k < p->cfg.n_close_fds; k++)
            close(p->cfg.close_fds[k]);
        close(to[1]);
        close(from[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the rank */
        signal(SIGINT, SIG_IGN);  /* the coordinator decides when to stop */
        signal(SIGTERM, SIG_IGN);
        signal(SIGUSR1, SIG_IGN);
        signal(SIGPIPE, SIG_DFL);
        if (p->cfg.as_limit) {
            struct rlimit rl = {p->cfg.as_limit, p->cfg.as_limit};
            setrlimit(RLIMIT_AS, &rl);
        }
        worker_main(&p->cfg, to[0], from[1]);
        _exit(0);
    }
    close(to[0]);
    close(from[1]);
    p->w[i] = (worker){.pid = pid, .to_fd = to[1], .from_fd = from[0]};
    return 0;
}

int ppx_pool_new(const ppx_pool_config *cfg, ppx_pool **out, ppx_err *err)
{
    ppx_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    p->cfg = *cfg;
    p->n = cfg->workers > 0 ? cfg->workers : 1;
    p->w = calloc((size_t)p->n, sizeof *p->w);
    ppx_buf_init(&p->payload);
    if (!p->w) {
        free(p);
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    }
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

int ppx_pool_idle(const ppx_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->n; i++)
        n += !p->w[i].busy;
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

static int send_task(const worker *w, const task_hdr *h, const char *in_path, const char *key,
                     const char *out_path, const uint8_t *input, size_t len)
{
    return write_full(w->to_fd, h, sizeof *h) || write_full(w->to_fd, in_path, h->in_len) ||
           write_full(w->to_fd, key, h->key_len) ||
           (out_path && write_full(w->to_fd, out_path, h->out_len)) ||
           (input && write_full(w->to_fd, input, len));
}

int ppx_pool_submit(ppx_pool *p, uint64_t id, uint64_t tag, const char *in_path,
                    const char *key, const char *out_path, const uint8_t *input, size_t len,
                    ppx_err *err)
{
    int i = 0;
    while (i < p->n && p->w[i].busy)
        i++;
    if (i == p->n)
        return ppx_err_set(err, PPX_EINTERNAL, PPX_STAGE_JOB, "no idle worker");
    worker *w = &p->w[i];
    task_hdr h = {.id = id,
                  .tag = tag,
                  .in_len = (uint32_t)strlen(in_path),
                  .key_len = (uint32_t)strlen(key),
                  .out_len = out_path ? (uint32_t)strlen(out_path) : 0,
                  .has_payload = input != NULL,
                  .payload_len = input ? len : 0};
    if (send_task(w, &h, in_path, key, out_path, input, len)) {
        /* The worker died while idle (killed from outside): this image is
         * not its fault. Replace the worker and hand the image to the new one;
         * if that fails too, the wait reports the image as a worker failure. */
        int status;
        kill(w->pid, SIGKILL);
        reap(w, &status);
        int rc = spawn(p, i, err);
        if (rc)
            return rc;
        w = &p->w[i];
        (void)send_task(w, &h, in_path, key, out_path, input, len);
    }
    w->busy = 1;
    w->id = id;
    w->tag = tag;
    w->started = now_s();
    return 0;
}

static void reap(worker *w, int *status)
{
    while (waitpid(w->pid, status, 0) < 0 && errno == EINTR)
        ;
    close(w->to_fd);
    close(w->from_fd);
    w->pid = -1;
}

/* Reports the image a lost worker held, then replaces the worker. */
static int replace(ppx_pool *p, int i, int timed_out, int status, ppx_pool_cb cb, void *arg,
                   ppx_err *err)
{
    worker *w = &p->w[i];
    if (w->busy) {
        ppx_result r;
        memset(&r, 0, sizeof r);
        r.id = w->id;
        r.tag = w->tag;
        r.busy_s = now_s() - w->started;
        if (timed_out) {
            r.status = ppx_err_set(&r.err, PPX_ETIMEOUT, PPX_STAGE_TIMEOUT,
                                   "worker stuck for more than %g s on this image; killed",
                                   p->cfg.timeout_s);
        } else if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);
            r.status = ppx_err_set(&r.err, PPX_ECRASH, PPX_STAGE_WORKER,
                                   "worker killed by signal SIG%s (%s)%s", sigabbrev_np(sig)
                                       ? sigabbrev_np(sig) : "?", strsignal(sig),
                                   sig == SIGKILL ? ": out of memory, or killed from outside" : "");
        } else {
            r.status = ppx_err_set(&r.err, PPX_ECRASH, PPX_STAGE_WORKER,
                                   "worker exited with status %d", WEXITSTATUS(status));
        }
        cb(arg, &r, NULL);
    }
    return spawn(p, i, err);
}

int ppx_pool_wait(ppx_pool *p, int timeout_ms, int wake_fd, ppx_pool_cb cb, void *arg,
                  ppx_err *err)
{
    struct pollfd *pf = calloc((size_t)p->n + 1, sizeof *pf);
    if (!pf)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    double t = now_s();
    int wait_ms = timeout_ms;
    int nf = 0;
    for (int i = 0; i < p->n; i++) {
        pf[nf++] = (struct pollfd){.fd = p->w[i].busy ? p->w[i].from_fd : -1, .events = POLLIN};
        if (p->w[i].busy && p->cfg.timeout_s > 0) {
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
    t = now_s();
    for (int i = 0; i < p->n && rc == 0; i++) {
        worker *w = &p->w[i];
        if (!w->busy)
            continue;
        if (n > 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
            ppx_result r;
            if (read_full(w->from_fd, &r, sizeof r) == 0) {
                const uint8_t *payload = NULL;
                if (r.out_len) {
                    p->payload.len = 0;
                    if (ppx_buf_reserve(&p->payload, r.out_len) ||
                        read_full(w->from_fd, p->payload.data, r.out_len)) {
                        goto lost;
                    }
                    payload = p->payload.data;
                }
                w->busy = 0;
                cb(arg, &r, payload);
                done++;
                continue;
            }
        lost:;
            int status = 0;
            kill(w->pid, SIGKILL); /* it may have closed the pipe and still be alive */
            reap(w, &status);
            rc = replace(p, i, 0, status, cb, arg, err);
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
    double deadline = now_s() + grace_s;
    for (int i = 0; i < p->n; i++) {
        worker *w = &p->w[i];
        if (w->pid <= 0)
            continue;
        for (;;) {
            int status;
            pid_t r = waitpid(w->pid, &status, WNOHANG);
            if (r == w->pid || (r < 0 && errno != EINTR))
                break;
            if (now_s() >= deadline) {
                kill(w->pid, SIGKILL);
                waitpid(w->pid, &status, 0);
                break;
            }
            /* Wait for this child's pipe to close (it writes its last result
             * or exits) instead of sleeping blindly. */
            struct pollfd pfd = {.fd = w->from_fd, .events = POLLIN};
            int ms = (int)((deadline - now_s()) * 1000) + 1;
            if (poll(&pfd, 1, ms > 0 ? ms : 0) > 0 && (pfd.revents & POLLIN)) {
                char sink[4096];
                if (read(w->from_fd, sink, sizeof sink) <= 0) {
                    waitpid(w->pid, &status, 0);
                    break;
                }
            }
        }
        close(w->from_fd);
        w->pid = -1;
    }
    ppx_buf_destroy(&p->payload);
    free(p->w);
    free(p);
    *pp = NULL;
}
