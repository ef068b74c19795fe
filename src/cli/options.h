/* The options of `prepix run` and `prepix stats`, declared once.
 *
 * Each row of ppx_cli_options (options.c) gives an option's names, its
 * argument, its default, its bounds, its help text and where its value goes,
 * in the spirit of libvips' VIPS_ARG_*: the parser, the defaults, the
 * `--help` text and the man page check (unit.cli.man_page_lists_options) all
 * read that one row. Adding an option is one row (and its man page entry). */
#ifndef PPX_CLI_OPTIONS_H
#define PPX_CLI_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "prepix/sched.h"

/* Process exit codes (DESIGN.md); cli alone decides them. */
enum { EXIT_OK = 0, EXIT_FATAL = 1, EXIT_USAGE = 2, EXIT_FAILED = 3, EXIT_STOPPED = 4 };

/* Images per tar/npy shard when neither --shard-size nor --shards is given. */
#define PPX_SHARD_SIZE_DEFAULT 1000

/* What parsing fills: the run's configuration, the -i values (several make
 * named splits) and -p's text (maybe @FILE). */
typedef struct {
    ppx_run_config *cfg;
    const char *inputs[PPX_SPLITS_MAX + 1];
    int n_inputs;
    const char *spec_arg;
} ppx_cli_run;

typedef enum {
    PPX_OPT_FLAG,    /* no argument: the int field gets lo */
    PPX_OPT_STRING,  /* the argument as given (argv outlives the run) */
    PPX_OPT_UINT,    /* a decimal integer >= 0, in [lo, hi] */
    PPX_OPT_INT,     /* a decimal integer, in [lo, hi] */
    PPX_OPT_SECONDS, /* a decimal number, in [lo, hi], or (lo, hi] when lo_open */
    PPX_OPT_CHOICE,  /* one of the words of choices: the field gets its value */
    PPX_OPT_CUSTOM,  /* set() reads the argument */
} ppx_opt_kind;

/* The C type of the field an option writes, found by _Generic from the
 * field itself (PPX_OPT_FIELD), so that a row cannot name the wrong type. */
typedef enum {
    PPX_FIELD_NONE,
    PPX_FIELD_INT,
    PPX_FIELD_ENUM, /* an enum, int-sized (checked in options.c) */
    PPX_FIELD_U64,
    PPX_FIELD_I64,
    PPX_FIELD_DOUBLE,
    PPX_FIELD_STR,
} ppx_opt_field;

typedef struct {
    const char *word;
    int value;
} ppx_opt_choice;

typedef struct ppx_cli_opt ppx_cli_opt;

/* Reads arg (NULL for a flag) into r. 0, EXIT_USAGE with the message
 * printed, or -1 when the option ended the parse (--help printed). */
typedef int (*ppx_opt_setter)(const ppx_cli_opt *o, const char *arg, ppx_cli_run *r);

/* PPX_OPT_DEF_LATER: the default is shown in --help but applied after
 * parsing (the shard size, which only sharded formats have). */
enum { PPX_OPT_HAS_DEF = 1, PPX_OPT_DEF_LATER = 2 };

struct ppx_cli_opt {
    const char *name; /* long name, without "--" */
    char short_name;  /* 0: none */
    const char *arg;  /* the argument's name in --help ("N", "SPEC"); NULL: a flag */
    ppx_opt_kind kind;
    size_t offset; /* of the field in ppx_run_config */
    ppx_opt_field field;
    int def_flags;                 /* PPX_OPT_HAS_DEF, PPX_OPT_DEF_LATER */
    double def;                    /* the default, applied before the command line is read */
    int64_t lo;                    /* bounds of numbers; a flag's value */
    uint64_t hi;                   /* (for seconds both are compared as doubles) */
    int lo_open;                   /* seconds: lo itself refused */
    const ppx_opt_choice *choices; /* PPX_OPT_CHOICE: ends with a NULL word */
    /* What the error says after "-x ARG: " (NULL for a choice: "expected A, B
     * or C"), and the --help text (lines after the first are indented; NULL:
     * not in the list of options). In both "{def}", "{min}" and "{max}" are
     * replaced by the row's default and bounds. */
    const char *expect;
    const char *help;
    ppx_opt_setter set; /* PPX_OPT_CUSTOM */
};

extern const ppx_cli_opt ppx_cli_options[];
extern const size_t ppx_cli_n_options;

/* Prints "prepix: " fmt and the pointer to --help on stderr. */
void ppx_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes the usage text of `prepix --help`, options generated from the table. */
void ppx_cli_print_usage(FILE *f);

/* Parses the options of `prepix run|stats` (argv[0] is the command) into r,
 * defaults first. 0, EXIT_USAGE with the message printed, or -1 after --help
 * printed the usage. Leaves the checks between options to the caller. */
int ppx_cli_parse_options(int argc, char **argv, ppx_cli_run *r);

#endif
