/* The zygote that forks a rank's workers (pool/zygote.h): its requests on a
 * SOCK_SEQPACKET socket (one message each, descriptors as SCM_RIGHTS), its
 * loop, and the fork of a worker as a child of the rank (CLONE_PARENT). */
#include "pool/zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Pools one zygote serves at once (a run has its workers' and, at the end,
 * the thumbnails' worker). */
#define ZYGOTE_POOLS 8
/* How long the rank waits for an answer: the zygote answers at once unless
 * it was stopped or the machine is out of processes; a wait on it must not
 * be unbounded. */
#define ZYGOTE_ANSWER_S 60

enum { OP_DEFINE = 1, OP_SPAWN = 2, OP_UNDEFINE = 3 };

typedef struct {
    uint32_t op;
    uint32_t pool; /* SPAWN, UNDEFINE: the id DEFINE answered */
    uint32_t kind; /* DEFINE */
    int32_t nfds;  /* DEFINE: slots of fds; SPAWN: 2 */
    uint64_t as_limit;
    uint8_t sent[PPX_POOL_MAX_KEEP_FDS]; /* DEFINE: 1 where slot k's fd came with the message */
    cpu_set_t cpus;                      /* DEFINE: the rank's CPU mask, the workers' */
} zreq;

typedef struct {
    int32_t rc;    /* 0 or a negative code */
    int32_t pid;   /* SPAWN: the worker */
    uint32_t pool; /* DEFINE: the pool's id */
    int32_t err_no;
} zrep;

struct ppx_zygote {
    pid_t pid;
    int fd;
};

/* ---- the rank's side ---------------------------------------------------- */

static int send_msg(int fd, const void *msg, size_t len, const int *fds, int nfds)
{
    struct iovec iov = {(void *)msg, len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * (PPX_POOL_MAX_KEEP_FDS + 2))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    while ((n = sendmsg(fd, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)len ? 0 : -1;
}

/* Receives one message of at most len bytes and up to max descriptors
 * (close-on-exec) into fds; *nfds: how many came. Its length, 0 at end of
 * file, -1 on errors. */
static ssize_t recv_msg(int fd, void *msg, size_t len, int *fds, int max, int *nfds)
{
    struct iovec iov = {msg, len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * (PPX_POOL_MAX_KEEP_FDS + 2))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n;
    while ((n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    *nfds = 0;
    for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        const unsigned char *d = CMSG_DATA(c);
        for (int i = 0; i < k; i++) {
            int got;
            memcpy(&got, d + i * sizeof(int), sizeof got);
            if (*nfds < max)
                fds[(*nfds)++] = got;
            else
                close(got);
        }
    }
    return n;
}

/* Sends a request and waits (bounded) for its answer. */
static int ask(ppx_zygote *z, const zreq *q, const int *fds, int nfds, zrep *a, ppx_err *err)
{
    if (send_msg(z->fd, q, sizeof *q, fds, nfds))
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB,
                           "cannot reach the zygote that forks the workers (pid %d): %s",
                           (int)z->pid, strerror(errno));
    struct pollfd pf = {.fd = z->fd, .events = POLLIN};
    int r;
    while ((r = poll(&pf, 1, ZYGOTE_ANSWER_S * 1000)) < 0 && errno == EINTR)
        ;
    int got = 0;
    ssize_t n = r > 0 ? recv_msg(z->fd, a, sizeof *a, NULL, 0, &got) : -1;
    if (n != (ssize_t)sizeof *a)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB,
                           "the zygote that forks the workers (pid %d) %s", (int)z->pid,
                           r == 0 ? "did not answer in time (stopped?)" : "is gone");
    if (a->rc)
        return ppx_err_set(err, a->rc, PPX_STAGE_JOB, "the zygote (pid %d) could not %s: %s",
                           (int)z->pid, q->op == OP_SPAWN ? "fork a worker" : "set up a pool",
                           a->err_no ? strerror(a->err_no) : ppx_strerror(a->rc));
    return 0;
}

int ppx__zygote_define(ppx_zygote *z, uint32_t kind, const int *fds, int nfds, uint64_t as_limit,
                       uint32_t *pool, ppx_err *err)
{
    zreq q;
    memset(&q, 0, sizeof q);
    q.op = OP_DEFINE;
    q.kind = kind;
    q.as_limit = as_limit;
    q.nfds = nfds < PPX_POOL_MAX_KEEP_FDS ? nfds : PPX_POOL_MAX_KEEP_FDS;
    int send[PPX_POOL_MAX_KEEP_FDS], n = 0;
    for (int k = 0; k < q.nfds; k++)
        if (fds[k] >= 0) {
            q.sent[k] = 1;
            send[n++] = fds[k];
        }
    /* The workers run where the rank may run: MPI_Init may have bound it. */
    if (sched_getaffinity(0, sizeof q.cpus, &q.cpus) != 0)
        CPU_ZERO(&q.cpus);
    zrep a;
    int rc = ask(z, &q, send, n, &a, err);
    if (!rc)
        *pool = a.pool;
    return rc;
}

int ppx__zygote_spawn(ppx_zygote *z, uint32_t pool, int in_fd, int out_fd, pid_t *pid, ppx_err *err)
{
    zreq q;
    memset(&q, 0, sizeof q);
    q.op = OP_SPAWN;
    q.pool = pool;
    q.nfds = 2;
    int fds[2] = {in_fd, out_fd};
    zrep a;
    int rc = ask(z, &q, fds, 2, &a, err);
    if (!rc)
        *pid = a.pid;
    return rc;
}

void ppx__zygote_undefine(ppx_zygote *z, uint32_t pool)
{
    zreq q;
    memset(&q, 0, sizeof q);
    q.op = OP_UNDEFINE;
    q.pool = pool;
    (void)send_msg(z->fd, &q, sizeof q, NULL, 0); /* no answer: a zygote gone is no matter */
}

pid_t ppx_zygote_pid(const ppx_zygote *z)
{
    return z->pid;
}

/* ---- the zygote's side ---------------------------------------------------- */

typedef struct {
    int used;
    ppx_pool_config pc;
    int fds[PPX_POOL_MAX_KEEP_FDS]; /* in the zygote's numbers, -1 where none */
    int nfds;
    void *made;
    cpu_set_t cpus;
} zpool;

typedef struct {
    const ppx_zygote_kinds *kinds;
    pid_t rank;
    zpool pools[ZYGOTE_POOLS];
    /* The command line as the rank has it (workers get it back: tools and
     * tests know a worker by it) and the zygote's name. */
    char *argv_area;
    size_t argv_len;
    char *argv_saved;
    char comm[17];
} zstate;

/* Rewrites the process's command line (the argv area, as /proc/PID/cmdline
 * shows it) to title, or back to what it was (title NULL). */
static void set_title(zstate *st, const char *title)
{
    if (!st->argv_area || !st->argv_saved)
        return;
    if (!title) {
        memcpy(st->argv_area, st->argv_saved, st->argv_len);
        prctl(PR_SET_NAME, st->comm);
        return;
    }
    memset(st->argv_area, 0, st->argv_len);
    size_t n = strlen(title);
    memcpy(st->argv_area, title, n < st->argv_len ? n : st->argv_len - 1);
    prctl(PR_SET_NAME, title);
}

/* The argv area: from argv[0] (glibc's program_invocation_name), as long
 * as /proc/self/cmdline says. */
static void find_title(zstate *st)
{
    extern char *program_invocation_name;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC); /* ppx-lint: not a path of the run */
    if (fd < 0)
        return;
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        len += (size_t)n;
    close(fd);
    prctl(PR_GET_NAME, st->comm);
    if (len < 2 || !program_invocation_name)
        return;
    st->argv_saved = malloc(len);
    if (!st->argv_saved)
        return;
    st->argv_area = program_invocation_name;
    st->argv_len = len;
    memcpy(st->argv_saved, st->argv_area, len);
}

static void reply(int fd, int rc, int err_no, pid_t pid, uint32_t pool)
{
    zrep a = {rc, (int32_t)pid, pool, err_no};
    (void)send_msg(fd, &a, sizeof a, NULL, 0);
}

static void close_pool(zstate *st, zpool *zp)
{
    if (zp->made && st->kinds->release)
        st->kinds->release(st->kinds->ctx, zp->made);
    for (int k = 0; k < zp->nfds; k++)
        if (zp->fds[k] >= 0)
            close(zp->fds[k]);
    memset(zp, 0, sizeof *zp);
}

static void on_define(zstate *st, int sock, const zreq *q, const int *got, int ngot)
{
    zpool *zp = NULL;
    for (int i = 0; i < ZYGOTE_POOLS && !zp; i++)
        if (!st->pools[i].used)
            zp = &st->pools[i];
    int nfds = q->nfds >= 0 && q->nfds <= PPX_POOL_MAX_KEEP_FDS ? q->nfds : 0;
    int want = 0;
    for (int k = 0; k < nfds; k++)
        want += q->sent[k] != 0;
    if (!zp || want != ngot) {
        for (int k = 0; k < ngot; k++)
            close(got[k]);
        reply(sock, PPX_EINTERNAL, zp ? 0 : EMFILE, 0, 0);
        return;
    }
    memset(zp, 0, sizeof *zp);
    zp->used = 1;
    for (int k = 0, j = 0; k < nfds; k++)
        zp->fds[k] = q->sent[k] ? got[j++] : -1;
    zp->nfds = nfds;
    zp->cpus = q->cpus;
    zp->pc.as_limit = q->as_limit;
    zp->pc.keep_fds = zp->fds;
    zp->pc.n_keep_fds = nfds;
    int rc = st->kinds->define(st->kinds->ctx, q->kind, zp->fds, nfds, &zp->pc, &zp->made);
    if (rc) {
        close_pool(st, zp);
        reply(sock, rc, 0, 0, 0);
        return;
    }
    reply(sock, 0, 0, 0, (uint32_t)(zp - st->pools) + 1);
}

static void on_spawn(zstate *st, int sock, const zreq *q, const int *got, int ngot)
{
    zpool *zp = q->pool >= 1 && q->pool <= ZYGOTE_POOLS ? &st->pools[q->pool - 1] : NULL;
    if (!zp || !zp->used || ngot != 2) {
        for (int k = 0; k < ngot; k++)
            close(got[k]);
        reply(sock, PPX_EINTERNAL, 0, 0, 0);
        return;
    }
    if (st->kinds->before_fork)
        st->kinds->before_fork(st->kinds->ctx);
    fflush(NULL);
    /* CLONE_PARENT: the worker is the rank's child, not ours, so the rank
     * reaps it and reads its signal as it would a worker it forked; its
     * parent-death signal follows the rank. The zygote has one thread, so
     * no lock is held across this fork. */
    pid_t pid =
        (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), NULL, NULL, NULL, 0UL);
    if (pid == 0) {
        set_title(st, NULL);
        if (CPU_COUNT(&zp->cpus) > 0)
            (void)sched_setaffinity(0, sizeof zp->cpus, &zp->cpus);
        ppx__pool_worker_child(&zp->pc, got[0], got[1], st->rank);
    }
    int e = errno;
    close(got[0]);
    close(got[1]);
    reply(sock, pid > 0 ? 0 : PPX_EIO, pid > 0 ? 0 : e, pid, 0);
}

/* The zygote's life: requests until end of file. Never returns. */
_Noreturn static void zygote_main(const ppx_zygote_kinds *kinds, int sock, pid_t rank)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != rank)
        _exit(0);            /* it could not be tied to its rank, or the rank is gone already */
    signal(SIGINT, SIG_IGN); /* the rank decides when to stop */
    signal(SIGTERM, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    /* Nothing of the launcher's (its pipes and sockets) stays in the zygote. */
    unsigned lo = STDERR_FILENO + 1, s = (unsigned)sock;
    if ((s > lo && syscall(SYS_close_range, lo, s - 1, 0) != 0) ||
        syscall(SYS_close_range, s + 1, ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = STDERR_FILENO + 1; fd < (max > 0 ? max : 1024); fd++)
            if (fd != sock)
                close(fd);
    }
    static zstate st;
    st.kinds = kinds;
    st.rank = rank;
    find_title(&st);
    set_title(&st, "prepix-zygote");
    for (;;) {
        zreq q;
        int got[PPX_POOL_MAX_KEEP_FDS + 2], ngot = 0;
        ssize_t n = recv_msg(sock, &q, sizeof q, got, PPX_POOL_MAX_KEEP_FDS + 2, &ngot);
        if (n <= 0)
            _exit(0); /* the rank closed its end or died */
        if (n != (ssize_t)sizeof q) {
            for (int k = 0; k < ngot; k++)
                close(got[k]);
            continue;
        }
        if (q.op == OP_DEFINE)
            on_define(&st, sock, &q, got, ngot);
        else if (q.op == OP_SPAWN)
            on_spawn(&st, sock, &q, got, ngot);
        else if (q.op == OP_UNDEFINE && q.pool >= 1 && q.pool <= ZYGOTE_POOLS)
            close_pool(&st, &st.pools[q.pool - 1]);
        for (int k = 0; q.op == OP_UNDEFINE && k < ngot; k++)
            close(got[k]);
    }
}

int ppx_zygote_start(const ppx_zygote_kinds *kinds, ppx_zygote **out, ppx_err *err)
{
    ppx_zygote *z = calloc(1, sizeof *z);
    if (!z)
        return ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_JOB, "out of memory");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        free(z);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "socketpair: %s", strerror(errno));
    }
    fflush(NULL); /* no buffered output duplicated into the zygote */
    pid_t rank = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        zygote_main(kinds, sv[1], rank);
    }
    int e = errno;
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        free(z);
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_JOB, "fork: %s", strerror(e));
    }
    z->pid = pid;
    z->fd = sv[0];
    *out = z;
    return 0;
}

void ppx_zygote_free(ppx_zygote **zp)
{
    if (!zp || !*zp)
        return;
    ppx_zygote *z = *zp;
    close(z->fd); /* end of file: the zygote exits */
    /* Bounded: a zygote stopped (SIGSTOP) must not hold the rank's end. */
    int pfd = (int)syscall(SYS_pidfd_open, z->pid, 0);
    struct pollfd pf = {.fd = pfd, .events = POLLIN};
    if (pfd < 0 || poll(&pf, 1, 5000) <= 0)
        kill(z->pid, SIGKILL);
    if (pfd >= 0)
        close(pfd);
    while (waitpid(z->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    free(z);
    *zp = NULL;
}
