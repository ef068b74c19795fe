/* A small streaming JSON writer into a ppx_buf.
 *
 * Strings are bytes (file names need not be UTF-8): valid UTF-8 is copied,
 * control characters, quotes and backslashes are escaped, and each byte of
 * an invalid UTF-8 sequence becomes a lone surrogate \udcXX (Python's
 * "surrogateescape", PEP 383), so that the exact bytes can be recovered:
 * json.loads(s)[...].encode("utf-8", "surrogateescape"). */
#ifndef PREPIX_JSON_H
#define PREPIX_JSON_H

#include "prepix/error.h"

#include <stddef.h>
#include <stdint.h>

#include "prepix/buf.h"

#define PPX_JSON_MAX_DEPTH 32

typedef struct {
    ppx_buf *out;
    int depth;
    int count[PPX_JSON_MAX_DEPTH]; /* members written at each level */
    int after_key;
    int failed; /* set on allocation failure; checked once at the end */
} ppx_json;

void ppx_json_init(ppx_json *j, ppx_buf *out);
void ppx_json_obj(ppx_json *j);
void ppx_json_obj_end(ppx_json *j);
void ppx_json_arr(ppx_json *j);
void ppx_json_arr_end(ppx_json *j);
void ppx_json_key(ppx_json *j, const char *key);
void ppx_json_str(ppx_json *j, const char *s);
void ppx_json_strn(ppx_json *j, const char *s, size_t n);
void ppx_json_u64(ppx_json *j, uint64_t v);
void ppx_json_i64(ppx_json *j, int64_t v);
/* Finite doubles with up to 17 significant digits; NaN/inf become null. */
void ppx_json_dbl(ppx_json *j, double v);
void ppx_json_bool(ppx_json *j, int v);
void ppx_json_null(ppx_json *j);
/* Appends the escaped form of n bytes of s (without quotes) to out. */
PPX_MUST_USE int ppx_json_escape(ppx_buf *out, const char *s, size_t n);

/* A name as it may reach a terminal: escaped as inside a JSON string (so
 * escape sequences and newlines in file names are shown, never obeyed), cut
 * to fit out (cap bytes, NUL included). */
void ppx_escape_name(char *out, size_t cap, const char *name);

#endif
