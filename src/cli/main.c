/* prepix: the command line. The only place that decides the process's exit
 * code; all the work is in the library. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/inspect_archive.h"
#include "cli/options.h"
#include "prepix/archive.h"
#include "prepix/fingerprint.h"
#include "prepix/io.h"
#include "prepix/json.h"
#include "prepix/prepix.h"
#include "prepix/sched.h"

/* Reads a pipeline given as @FILE (at most 1 MiB); caller frees. Lines are
 * kept as they are, so a '#' comment ends at its line's end (the parser's
 * rule); a NUL byte would silently cut the spec and is refused. NULL with
 * *why set on failure. */
static char *read_spec_file(const char *path, const char **why)
{
    ppx_buf b;
    ppx_buf_init(&b);
    ppx_err e;
    ppx_err_clear(&e);
    if (ppx_file_read(path, 1 << 20, &b, NULL, &e)) {
        static char msg[PPX_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", e.msg);
        *why = msg;
        ppx_buf_destroy(&b);
        return NULL;
    }
    if (memchr(b.data, '\0', b.len)) {
        *why = "it holds a NUL byte";
        ppx_buf_destroy(&b);
        return NULL;
    }
    if (ppx_buf_append(&b, "", 1)) {
        *why = "out of memory";
        ppx_buf_destroy(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* True when a launcher started us, so MPI must be initialised. A plain
 * `prepix run` skips MPI_Init and its half second of singleton start-up. */
static int launched_by_mpi(void)
{
    const char *force = getenv("PPX_MPI");
    if (force && *force)
        return strcmp(force, "0") != 0;
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                       "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

static void on_signal(int sig)
{
    ppx_sched_request_stop(sig);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: reads, writes and waits go on; poll() returns EINTR anyway
     * (signal(7)), and the handler also writes to the loop's wake-up pipe. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* What the output format demands of the pipeline and the sizes; fills in
 * the shard size. 0 or -1 (message printed). */
static int check_format(ppx_run_config *cfg, const ppx_pipeline *pl)
{
    if (ppx_pipeline_has_normalize(pl) && (cfg->shard != PPX_SHARD_NPY || cfg->stats_only)) {
        ppx_cli_usage_error("the pipeline ends in normalize (float32 values, not an image): only "
                            "`prepix run -f npy` can hold it");
        return -1;
    }
    if (!cfg->shard) {
        if (cfg->shard_size || cfg->shards) {
            ppx_cli_usage_error("%s applies to -f tar and -f npy only",
                                cfg->shards ? "--shards" : "--shard-size");
            return -1;
        }
        return 0;
    }
    if (cfg->shard_size && cfg->shards) {
        ppx_cli_usage_error("--shard-size and --shards both set the shards' size: give one");
        return -1;
    }
    ppx_npy_shape sh;
    if (cfg->shard == PPX_SHARD_NPY &&
        ppx_sched_npy_shape(pl, cfg->sub.chip_w, cfg->sub.chip_h, &sh)) {
        ppx_cli_usage_error(
            "-f npy stacks images into one array: the pipeline must give every image "
            "the same size (end it with center-crop, random-crop, crop, pad or "
            "resize WxH fit=fill, or cut chips with --chips WxH)");
        return -1;
    }
    /* Photos come to the shard as 1 or 3 channels, rasters with their own
     * bands: normalize's count is known to be wrong only when an op of the
     * pipeline sets the bands. */
    int nv = ppx_pipeline_normalize_values(pl);
    ppx_pipeline_geometry g;
    ppx_pipeline_output_geometry(pl, &g);
    if (cfg->shard == PPX_SHARD_NPY && nv > 1 && g.bands && nv != (int)g.bands) {
        ppx_cli_usage_error("normalize has %d values but the pipeline's images have %u bands "
                            "(its last grayscale, rgb or bands op)",
                            nv, g.bands);
        return -1;
    }
    if (cfg->chunk_size && cfg->shards) {
        ppx_cli_usage_error(
            "with -f %s a chunk is a shard: --shards sets their size, not --chunk-size",
            cfg->shard == PPX_SHARD_TAR ? "tar" : "npy");
        return -1;
    }
    if (cfg->shards) /* the size is the listing's share, known to rank 0 after the walk */
        return 0;
    if (!cfg->shard_size)
        cfg->shard_size = PPX_SHARD_SIZE_DEFAULT;
    if (cfg->chunk_size && cfg->chunk_size != cfg->shard_size) {
        ppx_cli_usage_error("with -f %s a chunk is a shard: set its size with --shard-size, not "
                            "--chunk-size",
                            cfg->shard == PPX_SHARD_TAR ? "tar" : "npy");
        return -1;
    }
    cfg->chunk_size = cfg->shard_size;
    return 0;
}

/* Named splits: -i NAME=DIR given two or more times (docs/duplicates.md). */
static const char *split_names[PPX_SPLITS_MAX], *split_paths[PPX_SPLITS_MAX];
static char split_name_buf[PPX_SPLITS_MAX][64];
/* The -i values as the report shows them: "NAME=DIR NAME=DIR ...". */
static char split_shown[PPX_SPLITS_MAX * (sizeof split_name_buf[0] + 1 + PPX_PATH_MAX + 1)];

/* The -i values ins[0..n) (n >= 2) into cfg's splits; each must read as
 * NAME=DIR, and a value that exists as written is a path, never a split.
 * 0, or EXIT_USAGE with the message printed. */
static int parse_splits(const char *const *ins, int n, ppx_run_config *cfg)
{
    if (n > PPX_SPLITS_MAX) {
        ppx_cli_usage_error("at most %d splits (-i NAME=DIR)", PPX_SPLITS_MAX);
        return EXIT_USAGE;
    }
    size_t used = 0;
    for (int k = 0; k < n; k++) {
        struct stat st;
        const char *eq = strchr(ins[k], '=');
        size_t len = eq ? (size_t)(eq - ins[k]) : 0;
        if (!eq || lstat(ins[k], &st) == 0 || len == 0 || len >= sizeof split_name_buf[k] ||
            eq[1] == '\0') {
            ppx_cli_usage_error(
                "with several inputs each is a named split, -i NAME=DIR ('%s' is not)", ins[k]);
            return EXIT_USAGE;
        }
        for (size_t c = 0; c < len; c++) {
            char ch = ins[k][c];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || (ch == '.' && c > 0))) {
                ppx_cli_usage_error(
                    "split name '%.*s': letters, digits, '_', '-' and '.' (not first)", (int)len,
                    ins[k]);
                return EXIT_USAGE;
            }
        }
        memcpy(split_name_buf[k], ins[k], len);
        split_name_buf[k][len] = '\0';
        for (int j = 0; j < k; j++)
            if (strcmp(split_name_buf[j], split_name_buf[k]) == 0) {
                ppx_cli_usage_error("split '%s' named twice", split_name_buf[k]);
                return EXIT_USAGE;
            }
        if (eq[1] == '@' || ppx_is_tar_name(eq + 1) || ppx_is_compressed_tar_name(eq + 1)) {
            ppx_cli_usage_error(
                "split %s: a split is a folder (lists and archives as splits are not "
                "supported yet)",
                split_name_buf[k]);
            return EXIT_USAGE;
        }
        split_names[k] = split_name_buf[k];
        split_paths[k] = eq + 1;
        int w =
            snprintf(split_shown + used, sizeof split_shown - used, "%s%s", k ? " " : "", ins[k]);
        if (w < 0 || (size_t)w >= sizeof split_shown - used) {
            ppx_cli_usage_error("input names too long");
            return EXIT_USAGE;
        }
        used += (size_t)w;
    }
    cfg->split_names = split_names;
    cfg->split_paths = split_paths;
    cfg->n_splits = n;
    cfg->input = split_shown;
    return 0;
}

/* `prepix run|stats` options into cfg (defaults first); *spec_arg gets -p's
 * text. 0, EXIT_USAGE with the message printed, or -1 after --help printed
 * the usage (nothing more to do). */
static int parse_run(int argc, char **argv, int stats_only, ppx_run_config *cfg,
                     const char **spec_arg)
{
    ppx_cli_run r = {.cfg = cfg};
    int rc = ppx_cli_parse_options(argc, argv, &r);
    if (rc)
        return rc;
    *spec_arg = r.spec_arg;
    if (optind < argc) {
        ppx_cli_usage_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!cfg->input) {
        ppx_cli_usage_error("-i INPUT is required");
        return EXIT_USAGE;
    }
    if (r.n_inputs > 1 && parse_splits(r.inputs, r.n_inputs, cfg))
        return EXIT_USAGE;
    char why[256];
    if (ppx_sub_finish(&cfg->sub, why, sizeof why)) {
        ppx_cli_usage_error("%s", why);
        return EXIT_USAGE;
    }
    if (ppx_sub_active(&cfg->sub) && (cfg->transport_bytes || cfg->duplicates)) {
        ppx_cli_usage_error("--pages and --chips read parts of files where they lie: not with "
                            "--transport bytes or --duplicates on");
        return EXIT_USAGE;
    }
    /* A chip or a page is an output of its own cut from a file: a companion
     * tree matched by path, or a COCO image entry, names the whole file. */
    if (ppx_sub_active(&cfg->sub) && (cfg->n_with || cfg->coco)) {
        ppx_cli_usage_error("%s names whole images; --pages and --chips cut them into parts: "
                            "not together (docs/pipeline.md)",
                            cfg->n_with ? "--with" : "--coco");
        return EXIT_USAGE;
    }
    if (stats_only) {
        if (cfg->outdir) {
            ppx_cli_usage_error("`prepix stats` writes no images: drop -o (use `prepix run`)");
            return EXIT_USAGE;
        }
        if (cfg->resume || cfg->transport_bytes) {
            ppx_cli_usage_error("--resume and --transport bytes belong to `prepix run`");
            return EXIT_USAGE;
        }
        cfg->stats_only = 1;
        if (!cfg->html_path)
            cfg->html_path = "";
    } else if (!cfg->outdir) {
        ppx_cli_usage_error("-o OUTDIR is required");
        return EXIT_USAGE;
    }
    if (cfg->n_with && (stats_only || cfg->transport_bytes)) {
        ppx_cli_usage_error(
            "--with: companions are written by `prepix run` with --transport paths");
        return EXIT_USAGE;
    }
    return 0;
}

/* Reads -p @FILE, parses the pipeline and checks it against the format:
 * cfg->pipeline and cfg->spec set (*spec_owned to free). 0 or EXIT_USAGE. */
static int validate_run(ppx_run_config *cfg, const char *spec_arg, char **spec_owned)
{
    if (spec_arg && spec_arg[0] == '@') {
        const char *why = "";
        *spec_owned = read_spec_file(spec_arg + 1, &why);
        if (!*spec_owned) {
            ppx_cli_usage_error("-p %s: cannot read %s: %s", spec_arg, spec_arg + 1, why);
            return EXIT_USAGE;
        }
        spec_arg = *spec_owned;
    }
    ppx_pipeline *pl = NULL;
    ppx_err err;
    ppx_err_clear(&err);
    if (ppx_pipeline_parse(spec_arg ? spec_arg : "", &pl, &err)) {
        ppx_cli_usage_error("bad pipeline: %s", err.msg);
        return EXIT_USAGE;
    }
    if (check_format(cfg, pl)) {
        ppx_pipeline_free(&pl);
        return EXIT_USAGE;
    }
    cfg->pipeline = pl;
    cfg->spec = spec_arg ? spec_arg : "";
    return 0;
}

/* MPI's text for code rc into buf (MPI_Error_string may itself fail). */
static const char *mpi_text(int rc, char *buf, int cap)
{
    int len = 0;
    if (MPI_Error_string(rc, buf, &len) != MPI_SUCCESS || len <= 0 || len >= cap)
        snprintf(buf, (size_t)cap, "MPI error code %d", rc);
    return buf;
}

/* The watchdog of MPI_Finalize: Open MPI's MPI_Finalize waits in a fence for
 * every rank, so a rank stopped after the exit code was agreed on would hold
 * the others there for ever. Past --rank-timeout this rank says so and ends
 * with exit 4 (the work is done and the report written: a --resume finds
 * nothing left to do). The message is made before the alarm is set: the
 * handler only writes it and exits, which is async-signal-safe. */
static char finalize_msg[256];
static size_t finalize_msg_len;

static void on_finalize_alarm(int sig)
{
    (void)sig;
    ssize_t w = write(STDERR_FILENO, finalize_msg, finalize_msg_len);
    (void)w;
    _exit(EXIT_STOPPED);
}

static void finalize_mpi(int rank, double rank_timeout_s)
{
    if (rank_timeout_s > 0) {
        int n = snprintf(finalize_msg, sizeof finalize_msg,
                         "prepix: rank %d: MPI_Finalize has not returned within --rank-timeout "
                         "(%g s): a rank stopped at the very end of the run; ending with exit 4\n",
                         rank, rank_timeout_s);
        finalize_msg_len = n > 0 && (size_t)n < sizeof finalize_msg ? (size_t)n : 0;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_finalize_alarm;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        alarm((unsigned)rank_timeout_s + 1);
    }
    int rc = MPI_Finalize();
    alarm(0);
    if (rc != MPI_SUCCESS) {
        /* Past the end of the run: the work and the report stand as they
         * are, so the exit code stays the one agreed on. */
        char text[MPI_MAX_ERROR_STRING];
        fprintf(stderr, "prepix: rank %d: MPI_Finalize failed: %s\n", rank,
                mpi_text(rc, text, (int)sizeof text));
    }
}

/* The process's exit code for what ppx_sched_run returned: a run's
 * outcome (prepix/sched.h), or PPX_SCHED_ABORT / PPX_SCHED_STALLED. The one
 * place a library result becomes an exit code. */
static int exit_code_of(int outcome)
{
    switch (outcome) {
    case PPX_RUN_DONE:
        return EXIT_OK;
    case PPX_RUN_FAILURES:
        return EXIT_FAILED;
    case PPX_RUN_REFUSED:
        return EXIT_USAGE;
    case PPX_RUN_STOPPED:
    case PPX_SCHED_STALLED:
        return EXIT_STOPPED;
    default:
        return EXIT_FATAL;
    }
}

/* Runs the job: as one plain rank, or under MPI when a launcher started us;
 * the one place prepix calls MPI_Abort. Returns the exit code. */
static int launch_run(ppx_run_config *cfg)
{
    int use_mpi = launched_by_mpi();
    install_signals();
    /* Workers are forked by a zygote forked now, while this process has one
     * thread and, under a launcher, before MPI_Init: no worker is a copy of
     * a process holding MPI's registered memory, shared-memory segments or
     * sockets (fork after MPI_Init is what MPI libraries warn about on
     * InfiniBand and RoCE), nor of one whose other threads (the walk, the
     * journal's committer) may hold a lock the child would wait on forever
     * (docs/scheduling.md). */
    ppx_err zerr;
    ppx_err_clear(&zerr);
    if (ppx_sched_zygote_start(cfg, &zerr)) {
        fprintf(stderr, "prepix: cannot start the process that forks the workers: %s\n", zerr.msg);
        return EXIT_FATAL;
    }
    if (!use_mpi) {
        int code = ppx_sched_run(cfg, MPI_COMM_NULL);
        ppx_sched_zygote_stop(cfg);
        return exit_code_of(code);
    }
    char text[MPI_MAX_ERROR_STRING];
    int provided = MPI_THREAD_SINGLE, rank = -1, exit_code = EXIT_FATAL;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
        fprintf(stderr, "prepix: MPI_Init_thread failed: %s\n", mpi_text(rc, text, sizeof text));
        ppx_sched_zygote_stop(cfg);
        return EXIT_FATAL;
    }
    /* Errors return to us (and end the job with exit 1) instead of aborting
     * without a word: without this, every MPI call's check is moot. */
    rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (rc != MPI_SUCCESS) {
        fprintf(stderr, "prepix: cannot make MPI errors return (MPI_Comm_set_errhandler): %s\n",
                mpi_text(rc, text, sizeof text));
        goto abort;
    }
    rc = MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rc != MPI_SUCCESS) {
        fprintf(stderr, "prepix: MPI_Comm_rank failed: %s\n", mpi_text(rc, text, sizeof text));
        goto abort;
    }
    if (provided < MPI_THREAD_FUNNELED)
        /* prepix calls MPI from its main thread and starts no thread in a
         * rank (workers are processes), so a lower level serves as well. */
        fprintf(stderr,
                "prepix: rank %d: note: MPI gives thread level %d, below MPI_THREAD_FUNNELED; "
                "prepix calls MPI from one thread only, so it goes on\n",
                rank, provided);
    cfg->use_mpi = 1;
    if (rank != 0)
        cfg->progress = PPX_PROGRESS_NONE;
    int code = ppx_sched_run(cfg, MPI_COMM_WORLD);
    ppx_sched_zygote_stop(cfg); /* the pools are gone */
    if (code == PPX_SCHED_ABORT || code == PPX_SCHED_STALLED) {
        /* The ranks cannot agree (MPI failed, or a rank fell silent: then
         * exit 4, --resume finishes the job). */
        exit_code = exit_code_of(code);
        goto abort;
    }
    finalize_mpi(rank, cfg->rank_timeout_s);
    /* Under mpirun a non-zero code from any rank makes mpirun kill the
     * others, so only rank 0 returns it (every rank agreed on it). */
    return rank != 0 ? 0 : exit_code_of(code);

abort:
    ppx_sched_zygote_stop(cfg);
    /* The one place prepix aborts. */
    fprintf(stderr, "prepix: rank %d: ending the job with MPI_Abort (exit %d)\n", rank, exit_code);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    return exit_code;
}

static int cmd_run(int argc, char **argv, int stats_only)
{
    ppx_run_config cfg;
    const char *spec_arg = NULL;
    char *spec_owned = NULL;
    int code = parse_run(argc, argv, stats_only, &cfg, &spec_arg);
    if (code)
        return code == -1 ? EXIT_OK : code;
    code = validate_run(&cfg, spec_arg, &spec_owned);
    if (code) {
        free(spec_owned);
        return code;
    }
    /* Each argument quoted as a shell needs it, so that the report's command
     * line can be pasted back; none recorded when memory runs out. */
    ppx_buf cmdline;
    ppx_buf_init(&cmdline);
    int rc = ppx_buf_append(&cmdline, "prepix", 6);
    for (int k = 0; k < argc && !rc; k++)
        rc = ppx_buf_append(&cmdline, " ", 1) || ppx_buf_shell_word(&cmdline, argv[k]);
    rc = rc || ppx_buf_append(&cmdline, "", 1); /* the terminating NUL */
    cfg.command_line = rc ? NULL : (const char *)cmdline.data;

    code = launch_run(&cfg);
    ppx_buf_destroy(&cmdline);
    ppx_pipeline *pl = (ppx_pipeline *)cfg.pipeline;
    ppx_pipeline_free(&pl);
    free(spec_owned);
    return code;
}

/* The facts of an inspect line that only the image's format has. */
static void put_format_facts(ppx_json *j, const ppx_info *info)
{
    if (info->format == PPX_FMT_JPEG) {
        ppx_json_key(j, "progressive");
        ppx_json_bool(j, info->progressive);
        ppx_json_key(j, "arithmetic");
        ppx_json_bool(j, info->arithmetic);
    } else if (info->format == PPX_FMT_PNG) {
        ppx_json_key(j, "interlaced");
        ppx_json_bool(j, info->progressive);
    } else if (info->format == PPX_FMT_TIFF) {
        ppx_json_key(j, "tiled");
        ppx_json_bool(j, info->tiled);
        ppx_json_key(j, "pages");
        ppx_json_i64(j, info->pages);
        if (info->pages_capped) {
            /* The codec stops counting at 2^20 directories. */
            ppx_json_key(j, "pages_at_least");
            ppx_json_bool(j, 1);
        }
        if (info->pages > 1) {
            ppx_json_key(j, "note");
            ppx_json_str(j, info->pages_capped
                                ? "multi-page, at least this many pages (counting stops "
                                  "there): prepix reads the first page"
                                : "multi-page: prepix reads the first page");
        }
    } else if (info->format == PPX_FMT_WEBP) {
        ppx_json_key(j, "lossless");
        ppx_json_bool(j, info->lossless);
        ppx_json_key(j, "frames");
        ppx_json_i64(j, info->pages);
        ppx_json_key(j, "animated");
        ppx_json_bool(j, info->animated);
        if (info->animated) {
            ppx_json_key(j, "note");
            ppx_json_str(j, "animation: prepix reads the first frame");
        }
    }
}

/* The header facts of an inspect line. */
static void put_info(ppx_json *j, const ppx_info *info)
{
    ppx_json_key(j, "format");
    ppx_json_str(j, ppx_format_name(info->format));
    ppx_json_key(j, "width");
    ppx_json_u64(j, info->width);
    ppx_json_key(j, "height");
    ppx_json_u64(j, info->height);
    ppx_json_key(j, "channels");
    ppx_json_u64(j, info->channels);
    ppx_json_key(j, "bits");
    ppx_json_u64(j, info->bits);
    ppx_json_key(j, "sample");
    ppx_json_str(j, ppx_sample_name(info->sample));
    if (info->plain_bands) {
        ppx_json_key(j, "plain_bands");
        ppx_json_bool(j, 1);
    }
    ppx_json_key(j, "colorspace");
    ppx_json_str(j, ppx_colorspace_name(info->cs));
    ppx_json_key(j, "orientation");
    ppx_json_i64(j, info->orientation);
    ppx_json_key(j, "alpha");
    ppx_json_bool(j, info->has_alpha);
    if (info->compression && info->compression[0]) {
        ppx_json_key(j, "compression");
        ppx_json_str(j, info->compression);
    }
    put_format_facts(j, info);
}

static void inspect_one(const char *path, int decode, ppx_buf *in, ppx_image *img, ppx_fp_ctx *fpc,
                        ppx_buf *line, int *bad)
{
    ppx_err err;
    ppx_err_clear(&err);
    ppx_info info;
    ppx_limits lim;
    ppx_limits_default(&lim);
    if (ppx_is_tar_name(path) || ppx_is_compressed_tar_name(path)) {
        *bad |= ppx_cli_inspect_archive(path, line);
        fwrite(line->data, 1, line->len, stdout);
        fputc('\n', stdout);
        return;
    }
    int rc = ppx_file_read(path, lim.max_file_bytes, in, NULL, &err);
    if (!rc)
        rc = ppx_codec_inspect(in->data, in->len, &lim, &info, &err);
    if (!rc && decode) {
        ppx_decode_opts o = {.limits = &lim};
        rc = ppx_codec_decode(in->data, in->len, &o, img, &info, &err);
    }
    /* The run's fingerprints of the image at full size (no shrink-on-load),
     * to compare with imagehash's. */
    ppx_fingerprint fp = {.valid = 0};
    if (!rc && decode)
        rc = ppx_fingerprint_compute(fpc, img, 1, &fp, &err);
    ppx_json j;
    line->len = 0;
    ppx_json_init(&j, line);
    ppx_json_obj(&j);
    ppx_json_key(&j, "path");
    ppx_json_str(&j, path);
    if (rc) {
        *bad = 1;
        ppx_cli_json_error(&j, rc, &err);
    } else {
        put_info(&j, &info);
        ppx_json_key(&j, "icc");
        ppx_json_bool(&j, info.has_icc);
        if (fp.valid) {
            char hex[33];
            ppx_phash_hex(fp.phash, hex);
            ppx_json_key(&j, "phash");
            ppx_json_str(&j, hex);
            ppx_exact_hex(fp.exact, hex);
            ppx_json_key(&j, "exact");
            ppx_json_str(&j, hex);
        }
    }
    ppx_json_obj_end(&j);
    fwrite(line->data, 1, line->len, stdout);
    fputc('\n', stdout);
}

static int cmd_inspect(int argc, char **argv)
{
    int decode = 0, first = 1;
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: prepix inspect [--decode] FILE...\n"
               "Prints one JSON object a line per file: format, size, channels, bit depth,\n"
               "colour space, orientation, ... or an error object {code, stage, reason}.\n"
               "--decode also decodes the pixels, so that damaged data is found too, and\n"
               "gives their fingerprints: \"phash\" (imagehash's phash, as its str() prints\n"
               "it) and \"exact\" (the pixel hash a run groups exact duplicates by).\n"
               "A .tar gives what a run would take from it: images, members that are not\n"
               "images, the labelling rule and images per class, and its problems.\n"
               "Exit 0 if every file is readable, 3 otherwise.\n");
        return EXIT_OK;
    }
    if (argc > 1 && strcmp(argv[1], "--decode") == 0) {
        decode = 1;
        first = 2;
    }
    if (first >= argc) {
        ppx_cli_usage_error("inspect: no FILE given");
        return EXIT_USAGE;
    }
    ppx_buf in, line;
    ppx_buf_init(&in);
    ppx_buf_init(&line);
    ppx_image img;
    ppx_image_init(&img);
    ppx_fp_ctx *fpc = NULL;
    if (decode && ppx_fp_ctx_new(&fpc)) {
        fprintf(stderr, "prepix: out of memory\n");
        return EXIT_FATAL;
    }
    int bad = 0;
    for (int i = first; i < argc; i++)
        inspect_one(argv[i], decode, &in, &img, fpc, &line, &bad);
    ppx_fp_ctx_free(&fpc);
    ppx_buf_destroy(&in);
    ppx_buf_destroy(&line);
    ppx_image_destroy(&img);
    return bad ? EXIT_FAILED : EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        ppx_cli_print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        ppx_cli_print_usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("prepix %s\n", PPX_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1, 0);
    if (strcmp(cmd, "stats") == 0)
        return cmd_run(argc - 1, argv + 1, 1);
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "ops") == 0) {
        ppx_pipeline_print_ops(stdout);
        return EXIT_OK;
    }
    ppx_cli_usage_error("unknown command '%s' (run, stats, inspect, ops)", cmd);
    return EXIT_USAGE;
}
