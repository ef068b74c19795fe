/* The options of `prepix run` and `prepix stats`: one table (see options.h),
 * the parser that reads the command line through it and the --help text
 * made from it. */
#include "cli/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "prepix/dedup.h"
#include "prepix/log.h"
#include "prepix/limits.h"

/* Option bounds: each keeps the arithmetic it feeds far from overflow (the
 * workers' address-space limit is a multiple of --max-pixels; --timeout
 * becomes milliseconds in an int for poll). */
#define MAX_CHUNK 1000000
#define MAX_PIXELS (65535ULL * 65535ULL)
#define MAX_TIMEOUT_S 604800
#define MAX_WORKERS 4096

/* The setter's verdicts besides 0 and -1 (options.h): the value is bad, and
 * the row's expect text says why. */
#define BAD_VALUE 1

/* Where a row's value goes: the field's offset and its C type. Enums are
 * stored as int (GCC and clang give them int's size). */
#define FIELD_TYPE(x)                                                                              \
    _Generic((x),                                                                                  \
        int: PPX_FIELD_INT,                                                                        \
        uint64_t: PPX_FIELD_U64,                                                                   \
        int64_t: PPX_FIELD_I64,                                                                    \
        double: PPX_FIELD_DOUBLE,                                                                  \
        const char *: PPX_FIELD_STR,                                                               \
        default: PPX_FIELD_ENUM)
#define FIELD(m)                                                                                   \
    .offset = offsetof(ppx_run_config, m), .field = FIELD_TYPE(((ppx_run_config *)0)->m)
_Static_assert(sizeof(ppx_progress_mode) == sizeof(int), "enum fields are stored as int");

static int set_input(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r);
static int set_spec(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r);
static int set_format(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r);
static int set_help(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r);
static int set_with(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r);
static int set_sub(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r);
static int set_log_level(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r);

static const ppx_opt_choice transport_words[] = {{"paths", 0}, {"bytes", 1}, {NULL, 0}};
static const ppx_opt_choice progress_words[] = {{"auto", PPX_PROGRESS_AUTO},
                                                {"bar", PPX_PROGRESS_BAR},
                                                {"log", PPX_PROGRESS_LOG},
                                                {"none", PPX_PROGRESS_NONE},
                                                {NULL, 0}};
static const ppx_opt_choice on_off_words[] = {{"on", 1}, {"off", 0}, {NULL, 0}};

/* In the order of --help; rows without help are listed in the usage lines
 * above the options, or in another row's help. */
const ppx_cli_opt ppx_cli_options[] = {
    {.name = "input", .short_name = 'i', .arg = "INPUT", .kind = PPX_OPT_CUSTOM, .set = set_input},
    {.name = "output", .short_name = 'o', .arg = "OUTDIR", .kind = PPX_OPT_STRING, FIELD(outdir)},
    {.name = "pipeline",
     .short_name = 'p',
     .arg = "SPEC",
     .kind = PPX_OPT_CUSTOM,
     .set = set_spec,
     .help = "ops separated by '|' ('@FILE' reads it from a file); see `prepix ops`"},
    {.name = "format",
     .short_name = 'f',
     .arg = "F",
     .kind = PPX_OPT_CUSTOM,
     .set = set_format,
     .expect = "expected jpeg, png, tiff, webp, webp-lossless, same, tar or npy",
     .help = "jpeg (or jpg), png, tiff (or tif), webp (lossy at -q), webp-lossless\n"
             "or same (default same: each input's own format; a lossless WebP\n"
             "stays lossless), any case;\n"
             "tar (WebDataset shards) or npy (array shards), see docs/formats.md"},
    {.name = "shard-size",
     .arg = "N",
     .kind = PPX_OPT_UINT,
     FIELD(shard_size),
     .def_flags = PPX_OPT_HAS_DEF | PPX_OPT_DEF_LATER,
     .def = PPX_SHARD_SIZE_DEFAULT,
     .lo = 1,
     .hi = MAX_CHUNK,
     .expect = "expected a number from {min} to {max}",
     .help = "images per tar/npy shard (default {def})"},
    {.name = "shards",
     .arg = "N",
     .kind = PPX_OPT_UINT,
     FIELD(shards),
     .lo = 1,
     .hi = MAX_CHUNK,
     .expect = "expected a number from {min} to {max}",
     .help = "or: split the images into N tar/npy shards of equal size (a\n"
             "DataLoader wants at least as many shards as its workers)"},
    {.name = "quality",
     .short_name = 'q',
     .arg = "N",
     .kind = PPX_OPT_UINT,
     FIELD(quality),
     .def_flags = PPX_OPT_HAS_DEF,
     .def = 90,
     .lo = 1,
     .hi = 100,
     .expect = "expected a quality from {min} to {max}",
     .help = "JPEG and lossy WebP quality {min}..{max} (default {def})"},
    {.name = "workers",
     .short_name = 'w',
     .arg = "N",
     .kind = PPX_OPT_UINT,
     FIELD(workers),
     .lo = 1,
     .hi = MAX_WORKERS,
     .expect = "expected a number of workers from {min} to {max}",
     .help = "worker processes per rank (default: CPUs in the affinity mask)"},
    {.name = "chunk-size",
     .arg = "N",
     .kind = PPX_OPT_UINT,
     FIELD(chunk_size),
     .lo = 1,
     .hi = MAX_CHUNK,
     .expect = "expected a number from {min} to {max}",
     .help = "images per unit of scheduling (default: from the dataset size;\n"
             "with tar/npy the shard)"},
    {.name = "seed",
     .arg = "N",
     .kind = PPX_OPT_UINT,
     FIELD(seed),
     .def_flags = PPX_OPT_HAS_DEF,
     .def = 0,
     .lo = 0,
     .hi = UINT64_MAX,
     .expect = "expected a non-negative integer",
     .help = "seed of random ops (default {def}); results depend on (seed, path)"},
    {.name = "resume",
     .kind = PPX_OPT_FLAG,
     FIELD(resume),
     .lo = 1,
     .help = "finish an earlier run into OUTDIR; starts afresh if there is none"},
    {.name = "max-pixels",
     .arg = "N",
     .kind = PPX_OPT_UINT,
     FIELD(limits.max_pixels),
     .def_flags = PPX_OPT_HAS_DEF,
     .def = PPX_DEFAULT_MAX_PIXELS,
     .lo = 1,
     .hi = MAX_PIXELS,
     .expect = "expected a number from {min} to {max} (65535 x 65535, the largest image a side "
               "limit of 65535 allows)",
     .help = "refuse larger images before decoding (default {def})"},
    {.name = "timeout",
     .arg = "S",
     .kind = PPX_OPT_SECONDS,
     FIELD(timeout_s),
     .def_flags = PPX_OPT_HAS_DEF,
     .def = 60,
     .lo = 0,
     .lo_open = 1,
     .hi = MAX_TIMEOUT_S,
     .expect = "expected seconds > 0 and at most {max} (a week)",
     .help = "kill a worker stuck on one image for S seconds (default {def})"},
    {.name = "rank-timeout",
     .arg = "S",
     .kind = PPX_OPT_SECONDS,
     FIELD(rank_timeout_s),
     .def_flags = PPX_OPT_HAS_DEF,
     .def = 120,
     .lo = 0,
     .hi = MAX_TIMEOUT_S,
     .expect = "expected seconds from 0 (never) to {max}",
     .help = "a rank not heard from for S s (stopped, hung, node gone) ends\n"
             "the job with exit 4 and a report naming it (default {def}; 0 never)"},
    {.name = "max-failures",
     .arg = "N",
     .kind = PPX_OPT_INT,
     FIELD(max_failures),
     .def_flags = PPX_OPT_HAS_DEF,
     .def = -1,
     .lo = -1,
     .hi = INT64_MAX,
     .expect = "expected -1 or a number >= 0",
     .help = "stop (exit 4) after N failed images; -1 never (default)"},
    {.name = "transport",
     .arg = "T",
     .kind = PPX_OPT_CHOICE,
     FIELD(transport_bytes),
     .choices = transport_words,
     .help = "paths (shared file system, default) or bytes (rank 0 does all I/O)"},
    {.name = "report",
     .arg = "FILE",
     .kind = PPX_OPT_STRING,
     FIELD(report_path),
     .help = "JSON report (default OUTDIR/prepix-report.json; stats: stdout)"},
    {.name = "html",
     .arg = "FILE",
     .kind = PPX_OPT_STRING,
     FIELD(html_path),
     .help = "HTML report (default OUTDIR/prepix-report.html; '' for none)"},
    {.name = "progress",
     .arg = "M",
     .kind = PPX_OPT_CHOICE,
     FIELD(progress),
     .choices = progress_words,
     .help = "auto, bar, log or none (default auto)"},
    {.name = "dry-run",
     .kind = PPX_OPT_FLAG,
     FIELD(dry_run),
     .lo = 1,
     .help = "list what would be done and exit"},
    {.name = "follow-symlinks",
     .kind = PPX_OPT_FLAG,
     FIELD(follow_symlinks),
     .lo = 1,
     .help = "read symlinked files met in INPUT or named in @LIST (default for\n"
             "users other than root; --no-follow-symlinks refuses them);\n"
             "folders below INPUT never"},
    {.name = "no-follow-symlinks", .kind = PPX_OPT_FLAG, FIELD(follow_symlinks), .lo = 0},
    {.name = "copy-mode",
     .kind = PPX_OPT_FLAG,
     FIELD(copy_mode),
     .lo = 1,
     .help = "outputs get their input's permission bits (default 0644); a\n"
             "member its archive's, a shard those all its images share"},
    {.name = "duplicates",
     .arg = "on|off",
     .kind = PPX_OPT_CHOICE,
     FIELD(duplicates),
     .choices = on_off_words,
     .help = "fingerprint every input and report exact and near duplicates\n"
             "(default off: it costs 12% CPU on thumbnails; docs/duplicates.md)"},
    {.name = "dup-distance",
     .arg = "N",
     .kind = PPX_OPT_UINT,
     FIELD(dup_distance),
     .def_flags = PPX_OPT_HAS_DEF,
     .def = PPX_DUP_DISTANCE_DEFAULT,
     .lo = 0,
     .hi = PPX_DUP_DISTANCE_MAX,
     .expect = "expected a number of bits from {min} to {max}",
     .help = "near duplicates: phashes at most N of 64 bits apart (default {def})"},
    {.name = "drop-list",
     .arg = "FILE",
     .kind = PPX_OPT_STRING,
     FIELD(drop_list),
     .help = "the paths a deduplicated set drops (default\n"
             "OUTDIR/duplicates.txt; stats: none unless given)"},
    {.name = "exclude",
     .arg = "@FILE",
     .kind = PPX_OPT_STRING,
     FIELD(exclude),
     .help = "leave out the inputs FILE lists, one a line, as the report names\n"
             "them or relative to INPUT (a drop list: find, then drop)"},
    {.name = "coco",
     .arg = "FILE",
     .kind = PPX_OPT_STRING,
     FIELD(coco),
     .help = "COCO annotations (instances, keypoints) of the inputs, matched\n"
             "by file_name: mapped through each output's geometry into\n"
             "OUTDIR/coco.json (docs/pipeline.md)"},
    {.name = "with",
     .arg = "ROLE[=DIR]",
     .kind = PPX_OPT_CUSTOM,
     .set = set_with,
     .help = "companions (masks, maps) of each image, in DIR by its path\n"
             "with any image extension, or archive members KEY.ROLE.png; options\n"
             "after a comma: kind=label (default: nearest, values and palettes\n"
             "kept) or kind=image (the pipeline's filters), fill=V (padding,\n"
             "default 0), optional (a missing one does not fail the image). They\n"
             "get the image's geometry and nothing else; to OUTDIR/ROLE/<path>.png\n"
             "(tar: KEY.ROLE.png, npy: shard-N.ROLE.npy); docs/pipeline.md"},
    /* Pages and chips: prepix/subimage.h parses them (ppx_sub_parse_option). */
    {.name = "pages",
     .arg = "all|N|A-B",
     .kind = PPX_OPT_CUSTOM,
     .set = set_sub,
     .help = "each page (from 0) of a multi-page TIFF is a sample FILE#pN"},
    {.name = "chips",
     .arg = "WxH",
     .kind = PPX_OPT_CUSTOM,
     .set = set_sub,
     .help = "cut each TIFF into WxH chips, samples FILE@X,Y, each read by\n"
             "region (only the strips or tiles it touches)"},
    {.name = "chip-stride",
     .arg = "S[,T]",
     .kind = PPX_OPT_CUSTOM,
     .set = set_sub,
     .help = "chip corners S apart (T down; default: the chip's size)"},
    {.name = "chip-edge",
     .arg = "E",
     .kind = PPX_OPT_CUSTOM,
     .set = set_sub,
     .help = "drop (default), pad (with --nodata, else 0) or shift back inside\n"
             "the chips that reach past the edge"},
    {.name = "nodata",
     .arg = "V",
     .kind = PPX_OPT_CUSTOM,
     .set = set_sub,
     .help = "chips all of V are skipped (counted: images.nodata); pad value"},
    {.name = "max-pages",
     .arg = "N",
     .kind = PPX_OPT_CUSTOM,
     .set = set_sub,
     .help = "a file with more pages fails whole (default 65536)"},
    {.name = "max-chips",
     .arg = "N",
     .kind = PPX_OPT_CUSTOM,
     .set = set_sub,
     .help = "a file that makes more chips fails whole (default 1000000)"},
    {.name = "quiet",
     .kind = PPX_OPT_CUSTOM,
     .set = set_log_level,
     .lo = PPX_LOG_ERR,
     .help = "say only what went wrong (no notes, warnings or summary on stderr)"},
    {.name = "verbose",
     .short_name = 'v',
     .kind = PPX_OPT_CUSTOM,
     .set = set_log_level,
     .lo = PPX_LOG_DBG,
     .help = "say also how the run was planned (chunks and their size)"},
    {.name = "help", .kind = PPX_OPT_CUSTOM, .set = set_help},
};
#define N_OPTIONS (sizeof ppx_cli_options / sizeof ppx_cli_options[0])
const size_t ppx_cli_n_options = N_OPTIONS;

static const char usage_head[] =
    "usage: prepix run     -i INPUT -o OUTDIR [-p SPEC] [options]   process a dataset\n"
    "       prepix stats   -i INPUT [-p SPEC] [--report FILE]        statistics only\n"
    "       prepix inspect [--decode] FILE...                        header facts, JSON lines\n"
    "       prepix ops                                               pipeline ops and arguments\n"
    "       prepix --help | --version\n"
    "\n"
    "Launched plainly it runs as one rank; under mpirun/mpiexec/srun it uses every rank:\n"
    "  mpirun -np 4 prepix run -i photos/ -o prepared/ -p 'autorotate | resize 256 | center-crop "
    "224'\n"
    "\n"
    "INPUT is a folder (walked depth-first, each folder in byte order, symlinked folders not\n"
    "followed, files named *.jpg *.jpeg *.tif *.tiff *.png *.webp in any case) or @LIST, a file\n"
    "with one path a line relative to the list's folder, or one image (a dataset of one, keyed\n"
    "by its name), or a .tar archive. Every .tar met (walk, list line, or inside an archive one\n"
    "level deep, as ImageNet's tar of class tars) is read in place: its images are inputs keyed\n"
    "ARCHIVE/MEMBER. OUTDIR must not be INPUT or lie inside it, nor hold the image given as\n"
    "INPUT. Several folders as named splits: -i train=DIR -i val=DIR (keys and outputs\n"
    "SPLIT/REL, classes from the folders under each split; with --duplicates on the report\n"
    "lists the leaks between splits, see docs/duplicates.md).\n"
    "\n"
    "Options:\n";

static const char usage_tail[] =
    "\n"
    "Exit codes: 0 all images processed; 1 fatal error (OUTDIR unwritable, MPI failure);\n"
    "2 usage error, nothing written; 3 finished but some images failed (see the report);\n"
    "4 stopped early (SIGINT, SIGTERM, SIGUSR1, --max-failures): --resume finishes it.\n"
    "\n"
    "Every unreadable, truncated, hostile or unsupported file becomes one failure entry\n"
    "{path, stage, error} in the report and the run goes on. See prepix(1) and docs/.\n";

/* The column where the help text of an option starts. */
#define HELP_COLUMN 25

void ppx_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("prepix: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nprepix: see `prepix --help`\n", stderr);
    va_end(ap);
}

/* Writes text (o's help or expect) into buf with {def}, {min} and {max}
 * replaced by o's default and bounds; cut to cap. */
static void opt_text(const ppx_cli_opt *o, const char *text, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (const char *s = text; *s && n + 1 < cap;) {
        char num[32] = "";
        if (strncmp(s, "{def}", 5) == 0)
            snprintf(num, sizeof num, "%.17g", o->def);
        else if (strncmp(s, "{min}", 5) == 0)
            snprintf(num, sizeof num, "%lld", (long long)o->lo);
        else if (strncmp(s, "{max}", 5) == 0)
            snprintf(num, sizeof num, "%llu", (unsigned long long)o->hi);
        if (!num[0]) {
            buf[n++] = *s++;
            continue;
        }
        int w = snprintf(buf + n, cap - n, "%s", num);
        n = w > 0 && (size_t)w < cap - n ? n + (size_t)w : cap - 1;
        s += 5;
    }
    buf[n] = '\0';
}

/* "-q" for an option with a short name, else "--seed": how messages name it. */
static const char *opt_tag(const ppx_cli_opt *o, char *buf, size_t cap)
{
    if (o->short_name)
        snprintf(buf, cap, "-%c", o->short_name);
    else
        snprintf(buf, cap, "--%s", o->name);
    return buf;
}

/* One option's lines of --help: its names and argument, then its help from
 * HELP_COLUMN (at least two blanks after the names), continuation lines
 * indented to the same column. */
static void print_option(FILE *f, const ppx_cli_opt *o)
{
    char text[1024];
    int w;
    if (o->short_name)
        w = fprintf(f, "  -%c, --%s", o->short_name, o->name);
    else
        w = fprintf(f, "      --%s", o->name);
    if (o->arg)
        w += fprintf(f, " %s", o->arg);
    fprintf(f, "%*s", w + 2 > HELP_COLUMN ? 2 : HELP_COLUMN - w, "");
    opt_text(o, o->help, text, sizeof text);
    for (const char *s = text; *s; s++) {
        fputc(*s, f);
        if (*s == '\n')
            fprintf(f, "%*s", HELP_COLUMN, "");
    }
    fputc('\n', f);
}

void ppx_cli_print_usage(FILE *f)
{
    fputs(usage_head, f);
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (ppx_cli_options[i].help)
            print_option(f, &ppx_cli_options[i]);
    fputs(usage_tail, f);
}

/* ---- Reading values ---- */

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s)
        return -1;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

typedef union {
    int64_t i;     /* PPX_OPT_INT, FLAG, CHOICE */
    uint64_t u;    /* PPX_OPT_UINT */
    double d;      /* PPX_OPT_SECONDS */
    const char *s; /* PPX_OPT_STRING */
} opt_value;

/* Writes v, read as o's kind, into o's field of cfg. */
static void store(const ppx_cli_opt *o, ppx_run_config *cfg, opt_value v)
{
    char *at = (char *)cfg + o->offset;
    int x;
    switch (o->field) {
    case PPX_FIELD_INT:
    case PPX_FIELD_ENUM:
        x = o->kind == PPX_OPT_UINT ? (int)v.u : (int)v.i;
        memcpy(at, &x, sizeof x);
        break;
    case PPX_FIELD_U64:
        memcpy(at, &v.u, sizeof v.u);
        break;
    case PPX_FIELD_I64:
        memcpy(at, &v.i, sizeof v.i);
        break;
    case PPX_FIELD_DOUBLE:
        memcpy(at, &v.d, sizeof v.d);
        break;
    case PPX_FIELD_STR:
        memcpy(at, &v.s, sizeof v.s);
        break;
    default:
        break;
    }
}

/* Reads arg as o's kind, checks o's bounds: 0 with *v set, or BAD_VALUE. */
static int read_value(const ppx_cli_opt *o, const char *arg, opt_value *v)
{
    char *end;
    switch (o->kind) {
    case PPX_OPT_UINT:
        return parse_u64(arg, &v->u) || v->u < (uint64_t)o->lo || v->u > o->hi ? BAD_VALUE : 0;
    case PPX_OPT_INT:
        return parse_i64(arg, &v->i) || v->i < o->lo || (v->i > 0 && (uint64_t)v->i > o->hi)
                   ? BAD_VALUE
                   : 0;
    case PPX_OPT_SECONDS:
        v->d = strtod(arg, &end);
        if (!*arg || *end || !(o->lo_open ? v->d > (double)o->lo : v->d >= (double)o->lo) ||
            !(v->d <= (double)o->hi))
            return BAD_VALUE;
        return 0;
    case PPX_OPT_CHOICE:
        for (const ppx_opt_choice *c = o->choices; c->word; c++)
            if (strcmp(arg, c->word) == 0) {
                v->i = c->value;
                return 0;
            }
        return BAD_VALUE;
    case PPX_OPT_STRING:
        v->s = arg;
        return 0;
    default: /* PPX_OPT_FLAG */
        v->i = o->lo;
        return 0;
    }
}

/* "-x ARG: expected ...", the expectation from the row (for a choice: its
 * words, "expected A, B or C"). */
static void value_error(const ppx_cli_opt *o, const char *arg)
{
    char tag[64], why[512];
    if (o->kind == PPX_OPT_CHOICE) {
        size_t n = 0;
        n += (size_t)snprintf(why, sizeof why, "expected");
        for (const ppx_opt_choice *c = o->choices; c->word && n < sizeof why; c++)
            n += (size_t)snprintf(why + n, sizeof why - n, "%s%s",
                                  c == o->choices ? " "
                                  : c[1].word     ? ", "
                                                  : " or ",
                                  c->word);
    } else {
        opt_text(o, o->expect ? o->expect : "", why, sizeof why);
    }
    ppx_cli_usage_error("%s %s: %s", opt_tag(o, tag, sizeof tag), arg, why);
}

/* ---- The setters of rows that do more than store one value ---- */

static int set_input(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r)
{
    (void)o;
    if (r->n_inputs < PPX_SPLITS_MAX + 1)
        r->inputs[r->n_inputs++] = arg;
    r->cfg->input = arg;
    return 0;
}

static int set_spec(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r)
{
    (void)o;
    r->spec_arg = arg;
    return 0;
}

static int parse_format(const char *s, ppx_format *f)
{
    /* Any case, and the short extensions too: -f JPG is what people type. */
    if (strcasecmp(s, "same") == 0)
        *f = PPX_FMT_UNKNOWN;
    else if (strcasecmp(s, "jpeg") == 0 || strcasecmp(s, "jpg") == 0)
        *f = PPX_FMT_JPEG;
    else if (strcasecmp(s, "png") == 0)
        *f = PPX_FMT_PNG;
    else if (strcasecmp(s, "tiff") == 0 || strcasecmp(s, "tif") == 0)
        *f = PPX_FMT_TIFF;
    else if (strcasecmp(s, "webp") == 0 || strcasecmp(s, "webp-lossless") == 0)
        *f = PPX_FMT_WEBP;
    else
        return -1;
    return 0;
}

static int set_format(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r)
{
    (void)o;
    ppx_run_config *cfg = r->cfg;
    cfg->shard = strcasecmp(arg, "tar") == 0   ? PPX_SHARD_TAR
                 : strcasecmp(arg, "npy") == 0 ? PPX_SHARD_NPY
                                               : PPX_SHARD_NONE;
    cfg->out_format = PPX_FMT_UNKNOWN;
    if (!cfg->shard && parse_format(arg, &cfg->out_format))
        return BAD_VALUE;
    cfg->webp_lossless = strcasecmp(arg, "webp-lossless") == 0;
    return 0;
}

/* --with: one more companion role (docs/pipeline.md); the roles live here,
 * for the run that cfg->with points them to. */
static ppx_companion_spec with_specs[PPX_ROLES_MAX];

static int set_with(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r)
{
    (void)o;
    ppx_run_config *cfg = r->cfg;
    ppx_err err;
    ppx_err_clear(&err);
    ppx_companion_spec sp;
    if (ppx_companion_parse(arg, &sp, &err)) {
        ppx_cli_usage_error("%s", err.msg);
        return EXIT_USAGE;
    }
    if (cfg->n_with == PPX_ROLES_MAX) {
        ppx_cli_usage_error("--with %s: at most %d roles", arg, PPX_ROLES_MAX);
        return EXIT_USAGE;
    }
    for (int k = 0; k < cfg->n_with; k++)
        if (strcmp(with_specs[k].role, sp.role) == 0) {
            ppx_cli_usage_error("--with %s: role %s given twice", arg, sp.role);
            return EXIT_USAGE;
        }
    with_specs[cfg->n_with++] = sp;
    cfg->with = with_specs;
    return 0;
}

static int set_sub(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r)
{
    char why[256];
    if (ppx_sub_parse_option(&r->cfg->sub, o->name, arg, why, sizeof why) == 0)
        return 0;
    ppx_cli_usage_error("%s", why);
    return EXIT_USAGE;
}

/* --quiet, -v: the threshold of prepix/log.h, for the whole process. */
static int set_log_level(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r)
{
    (void)arg;
    (void)r;
    ppx_log_set_level((ppx_log_level)o->lo);
    return 0;
}

static int set_help(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r)
{
    (void)o;
    (void)arg;
    (void)r;
    ppx_cli_print_usage(stdout);
    return -1;
}

/* ---- The parser ---- */

/* Reads one option's argument into r: 0, EXIT_USAGE (message printed) or -1. */
static int apply(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r)
{
    opt_value v = {0}; /* set by read_value when it returns 0 (-O1 builds cannot tell) */
    int rc = o->kind == PPX_OPT_CUSTOM ? o->set(o, arg, r) : read_value(o, arg, &v);
    if (rc == BAD_VALUE) {
        value_error(o, arg);
        return EXIT_USAGE;
    }
    if (rc == 0 && o->kind != PPX_OPT_CUSTOM)
        store(o, r->cfg, v);
    return rc;
}

/* The defaults: zero, but for what the rows and the few rules below say. */
static void set_defaults(ppx_cli_run *r)
{
    ppx_run_config *cfg = r->cfg;
    memset(r, 0, sizeof *r);
    memset(cfg, 0, sizeof *cfg);
    r->cfg = cfg;
    cfg->out_format = PPX_FMT_UNKNOWN;
    /* A privileged run never reads through a link another user planted in
     * INPUT unless told to (docs/security.md). */
    cfg->follow_symlinks = geteuid() != 0;
    ppx_limits_default(&cfg->limits);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const ppx_cli_opt *o = &ppx_cli_options[i];
        if ((o->def_flags & (PPX_OPT_HAS_DEF | PPX_OPT_DEF_LATER)) != PPX_OPT_HAS_DEF)
            continue;
        opt_value v;
        if (o->kind == PPX_OPT_SECONDS)
            v.d = o->def;
        else if (o->kind == PPX_OPT_UINT)
            v.u = (uint64_t)o->def;
        else
            v.i = (int64_t)o->def;
        store(o, cfg, v);
    }
}

int ppx_cli_parse_options(int argc, char **argv, ppx_cli_run *r)
{
    /* getopt's tables, made from ours: each row's value is 256 + its index,
     * its short name (if any) maps to the same row. */
    static struct option longs[N_OPTIONS + 1];
    static char shorts[3 * N_OPTIONS + 1];
    size_t ns = 0;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const ppx_cli_opt *o = &ppx_cli_options[i];
        longs[i] =
            (struct option){o->name, o->arg ? required_argument : no_argument, NULL, 256 + (int)i};
        if (o->short_name) {
            shorts[ns++] = o->short_name;
            if (o->arg)
                shorts[ns++] = ':';
        }
    }
    shorts[ns] = '\0';
    set_defaults(r);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        const ppx_cli_opt *o = NULL;
        for (size_t i = 0; i < N_OPTIONS && !o; i++)
            if (c == 256 + (int)i || (c != 0 && c == ppx_cli_options[i].short_name))
                o = &ppx_cli_options[i];
        if (!o || c == '?' || c == ':') {
            ppx_cli_usage_error("unknown or incomplete option");
            return EXIT_USAGE;
        }
        int rc = apply(o, optarg, r);
        if (rc)
            return rc;
    }
    return 0;
}
