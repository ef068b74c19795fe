/* The per-image job's layer (src/work): a task's bytes on the pool's pipe
 * and back, the result record a worker sends, the job in a pool with the test
 * fault hook (PPX_TEST_FAULT), and the option the job names for a link it
 * does not follow. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "check.h"
#include "syscall_fault.h"
#include "work/job.h"

typedef struct {
    int n;
    ppx_result all[16];
    int had_payload[16];
} seen;

static void on_result(void *arg, const ppx_result *r, const uint8_t *payload)
{
    seen *s = arg;
    if (s->n < 16) {
        s->all[s->n] = *r;
        s->had_payload[s->n] = payload != NULL;
    }
    s->n++;
}

/* Waits (bounded: 10 s) until s->n reaches n. */
static int until(ppx_pool *p, seen *s, int n)
{
    ppx_err e;
    for (int i = 0; i < 200 && s->n < n; i++)
        if (ppx_work_wait(p, 50, -1, on_result, s, &e) < 0)
            return -1;
    return s->n == n ? 0 : -1;
}

static int task_roundtrip(void)
{
    uint8_t buf[1024];
    size_t n;
    ppx_err e;
    ppx_span sp = {.off = 512, .size = 77, .arc_len = 5};
    sp.arc.id.ino = 42;
    CHECK_EQ_INT(
        ppx__task_pack(buf, sizeof buf, &n, "/in/a.tar", &sp, "a.tar/x.jpg", "a/x.png", &e), 0);
    ppx_span got;
    ppx_task t;
    CHECK_EQ_INT(ppx__task_unpack(buf, n, &got, &t, &e), 0);
    CHECK_STR(t.in_path, "/in/a.tar");
    CHECK_STR(t.key, "a.tar/x.jpg");
    CHECK_STR(t.out_path, "a/x.png");
    CHECK(t.span == &got);
    CHECK_EQ_INT(got.off, 512);
    CHECK_EQ_INT(got.size, 77);
    CHECK_EQ_INT(got.arc_len, 5);
    CHECK_EQ_INT(got.arc.id.ino, 42);
    CHECK(t.input == NULL);
    /* No output path (bytes transport, shards) and no span: both NULL. */
    CHECK_EQ_INT(ppx__task_pack(buf, sizeof buf, &n, "b.jpg", NULL, "b.jpg", NULL, &e), 0);
    CHECK_EQ_INT(ppx__task_unpack(buf, n, &got, &t, &e), 0);
    CHECK(t.out_path == NULL);
    CHECK(t.span == NULL);
    CHECK_STR(t.key, "b.jpg");
    /* Too long for the buffer: a failure, not a cut. */
    CHECK_EQ_INT(ppx__task_pack(buf, 40, &n, "b.jpg", NULL, "b.jpg", NULL, &e), PPX_ENAMETOOLONG);
    return 0;
}

/* Bytes that are not a whole task fail as such; nothing is read past them. */
static int task_malformed(void)
{
    uint8_t buf[256];
    size_t n;
    ppx_err e;
    CHECK_EQ_INT(ppx__task_pack(buf, sizeof buf, &n, "in", NULL, "key", "out", &e), 0);
    ppx_span sp;
    ppx_task t;
    for (size_t cut = 0; cut < n; cut++) {
        ppx_err_clear(&e);
        CHECK_EQ_INT(ppx__task_unpack(buf, cut, &sp, &t, &e), PPX_EINTERNAL);
        CHECK_EQ_INT(e.stage, PPX_STAGE_WORKER);
    }
    return 0;
}

/* A reply whose size does not match its record's out_len is an internal
 * failure of that image; a lost task keeps what the pool said. */
static int result_malformed(void)
{
    ppx_result w;
    memset(&w, 0, sizeof w);
    w.out_len = 10;
    w.in_w = 640;
    uint8_t reply[sizeof w + 10];
    memcpy(reply, &w, sizeof w);
    ppx_pool_result pr;
    memset(&pr, 0, sizeof pr);
    pr.id = 4;
    pr.tag = 9;
    pr.len = sizeof reply;
    ppx_result r;
    const uint8_t *payload;
    ppx__result_unpack(&pr, reply, &r, &payload);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(r.in_w, 640);
    CHECK_EQ_INT(r.id, 4);
    CHECK_EQ_INT(r.tag, 9);
    CHECK(payload == reply + sizeof w);
    pr.len = sizeof reply - 1;
    ppx__result_unpack(&pr, reply, &r, &payload);
    CHECK_EQ_INT(r.status, PPX_EINTERNAL);
    CHECK_EQ_INT(r.err.stage, PPX_STAGE_WORKER);
    CHECK_EQ_INT(r.in_w, 0);
    CHECK(payload == NULL);
    pr.len = 3;
    ppx__result_unpack(&pr, reply, &r, &payload);
    CHECK_EQ_INT(r.status, PPX_EINTERNAL);
    CHECK_EQ_INT(r.id, 4);
    pr.len = 0;
    pr.status = ppx_err_set(&pr.err, PPX_ETIMEOUT, PPX_STAGE_TIMEOUT, "stuck");
    pr.worker_pid = 123;
    pr.busy_s = 2.5;
    ppx__result_unpack(&pr, NULL, &r, &payload);
    CHECK_EQ_INT(r.status, PPX_ETIMEOUT);
    CHECK_EQ_INT(r.err.stage, PPX_STAGE_TIMEOUT);
    CHECK_STR(r.err.msg, "stuck");
    CHECK_EQ_INT(r.worker_pid, 123);
    CHECK(r.busy_s == 2.5);
    return 0;
}

/* A worker of the test below, not the job: a result whose error strings fill
 * their arrays without a NUL (a worker whose memory a bad input corrupted). */
static void *raw_start(const void *arg)
{
    static ppx_result r;
    (void)arg;
    return &r;
}

static void raw_run(void *state, const void *arg, const ppx_pool_task *t, ppx_pool_reply *reply)
{
    ppx_result *r = state;
    (void)arg;
    (void)t;
    memset(r, 0, sizeof *r);
    r->status = PPX_EIO;
    memset(&r->err, 'A', sizeof r->err);
    r->err.code = PPX_EIO;
    r->err.stage = PPX_STAGE_DECODE;
    *reply = (ppx_pool_reply){r, sizeof *r, NULL, 0};
}

/* The strings of a worker's error are cut to their arrays before the
 * result reaches the caller, so whoever prints or copies them stops inside
 * it. */
static int result_strings_terminated(void)
{
    ppx_pool_config pc;
    memset(&pc, 0, sizeof pc);
    pc.workers = 1;
    pc.timeout_s = 10;
    pc.work = (ppx_worker_fn){raw_start, raw_run, NULL, NULL, 0, "image"};
    ppx_pool *p;
    ppx_err e;
    CHECK_EQ_INT(ppx_pool_new(&pc, &p, &e), 0);
    CHECK_EQ_INT(ppx_work_submit(p, 1, 2, "a.jpg", NULL, "a.jpg", NULL, NULL, 0, &e), 0);
    seen s = {0};
    CHECK_EQ_INT(until(p, &s, 1), 0);
    const ppx_err *got = &s.all[0].err;
    CHECK_EQ_INT(s.all[0].status, PPX_EIO);
    CHECK(memchr(got->msg, '\0', sizeof got->msg) != NULL);
    CHECK_EQ_INT(strlen(got->msg), sizeof got->msg - 1); /* cut, not emptied */
    ppx_pool_free(&p, 1);
    return 0;
}

static int job_pool(double timeout, ppx_job_config *job, ppx_pool **p)
{
    memset(job, 0, sizeof *job);
    ppx_limits_default(&job->limits);
    job->in_root = -1;
    ppx_pool_config pc;
    memset(&pc, 0, sizeof pc);
    pc.workers = 1;
    pc.timeout_s = timeout;
    pc.work = ppx_job_worker(job);
    ppx_err e;
    return ppx_pool_new(&pc, p, &e);
}

/* The real job in the pool: a result per image, the image's ids passed
 * through, and a lost worker reported in the job's words. */
static int job_in_pool(void)
{
    setenv("PPX_TEST_FAULT", "noop:ok.jpg,crash:bad.jpg,hang:stuck.jpg", 1);
    ppx_job_config job;
    ppx_pool *p;
    CHECK_EQ_INT(job_pool(0.3, &job, &p), 0);
    ppx_err e;
    int pid = ppx_pool_worker_pid(p, 0);
    CHECK_EQ_INT(ppx_work_submit(p, 1, 5, "ok.jpg", NULL, "ok.jpg", NULL, NULL, 0, &e), 0);
    CHECK_EQ_INT(ppx_work_submit(p, 2, 5, "bad.jpg", NULL, "bad.jpg", "bad.png", NULL, 0, &e), 0);
    seen s = {0};
    CHECK_EQ_INT(until(p, &s, 2), 0);
    CHECK_EQ_INT(s.all[0].id, 1);
    CHECK_EQ_INT(s.all[0].tag, 5);
    CHECK_EQ_INT(s.all[0].status, 0);
    CHECK_EQ_INT(s.had_payload[0], 0);
    CHECK_EQ_INT(s.all[1].id, 2);
    CHECK_EQ_INT(s.all[1].status, PPX_ECRASH);
    CHECK_EQ_INT(s.all[1].err.stage, PPX_STAGE_WORKER);
    CHECK_EQ_INT(s.all[1].worker_pid, pid);
    CHECK(strstr(s.all[1].err.msg, "SIGSEGV") != NULL);
    /* The input's bytes (bytes transport) reach the job. */
    CHECK_EQ_INT(
        ppx_work_submit(p, 3, 5, "ok.jpg", NULL, "ok.jpg", NULL, (const uint8_t *)"xy", 2, &e), 0);
    CHECK_EQ_INT(ppx_work_submit(p, 4, 5, "stuck.jpg", NULL, "stuck.jpg", NULL, NULL, 0, &e), 0);
    CHECK_EQ_INT(until(p, &s, 4), 0);
    CHECK_EQ_INT(s.all[2].status, 0);
    CHECK_EQ_INT(s.all[3].status, PPX_ETIMEOUT);
    CHECK_STR(s.all[3].err.msg, "worker stuck for more than 0.3 s on this image; killed");
    ppx_pool_free(&p, 1);
    return 0;
}

/* A worker that cannot be tied to its rank refuses each image, in the job's
 * words. */
static int refused_names_image_child(void)
{
    ppx_test_fault f[] = {{__NR_prctl, 0, PR_SET_PDEATHSIG, EINVAL}};
    if (ppx_test_fail_syscalls(f, 1) != 0)
        return PPX_SKIP;
    ppx_job_config job;
    ppx_pool *p;
    CHECK_EQ_INT(job_pool(10, &job, &p), 0);
    ppx_err e;
    CHECK_EQ_INT(ppx_work_submit(p, 1, 5, "a.jpg", NULL, "a.jpg", NULL, NULL, 0, &e), 0);
    seen s = {0};
    CHECK_EQ_INT(until(p, &s, 1), 0);
    CHECK_EQ_INT(s.all[0].status, PPX_EINTERNAL);
    CHECK(strstr(s.all[0].err.msg, "; the image was not processed") != NULL);
    ppx_pool_free(&p, 1);
    return 0;
}

static int refused_names_image(void)
{
    return ppx_test_forked(refused_names_image_child);
}

/* core says a link was not followed; the job, reading as the user asked,
 * names the option that would follow it: below INPUT and for a list line. */
static int link_not_followed(void)
{
    char tmpl[] = "/tmp/ppx-work-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    char target[300], link[300];
    snprintf(target, sizeof target, "%s/t.jpg", dir);
    snprintf(link, sizeof link, "%s/l.jpg", dir);
    int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "x", 1) == 1);
    close(fd);
    CHECK(symlink("t.jpg", link) == 0);
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(root >= 0);
    ppx_dircache dirs;
    ppx_dircache_init(&dirs);
    ppx_arc_cache arc;
    ppx_arc_cache_init(&arc);
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err e;
    const char *want = "a symbolic link, not followed (--follow-symlinks)";
    ppx_err_clear(&e);
    CHECK_EQ_INT(
        ppx_input_read(root, NULL, &dirs, &arc, "l.jpg", NULL, "l.jpg", 0, 1 << 20, &b, NULL, &e),
        PPX_ELOOP);
    CHECK_STR(e.msg, want);
    ppx_err_clear(&e);
    CHECK_EQ_INT(
        ppx_input_read(-1, NULL, &dirs, &arc, link, NULL, "l.jpg", 0, 1 << 20, &b, NULL, &e),
        PPX_ELOOP);
    CHECK_STR(e.msg, want);
    /* Followed when asked. */
    CHECK_EQ_INT(
        ppx_input_read(root, NULL, &dirs, &arc, "l.jpg", NULL, "l.jpg", 1, 1 << 20, &b, NULL, &e),
        0);
    CHECK_EQ_INT(b.len, 1);
    ppx_buf_destroy(&b);
    ppx_arc_cache_close(&arc);
    ppx_dircache_destroy(&dirs);
    close(root);
    unlink(link);
    unlink(target);
    rmdir(dir);
    return 0;
}

PPX_TEST_MAIN(TEST(task_roundtrip), TEST(task_malformed), TEST(result_malformed),
              TEST(result_strings_terminated), TEST(job_in_pool), TEST(refused_names_image),
              TEST(link_not_followed))
