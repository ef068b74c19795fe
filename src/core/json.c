#include "prepix/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void ppx_json_init(ppx_json *j, ppx_buf *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
}

static void put(ppx_json *j, const char *s, size_t n)
{
    if (ppx_buf_append(j->out, s, n))
        j->failed = 1;
}

static void puts_(ppx_json *j, const char *s)
{
    put(j, s, strlen(s));
}

/* Separator before a value: a comma between members, nothing after a key. */
static void sep(ppx_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0 && j->count[j->depth]++ > 0)
        put(j, ",", 1);
}

static void open_(ppx_json *j, char c)
{
    sep(j);
    put(j, &c, 1);
    if (j->depth + 1 < PPX_JSON_MAX_DEPTH)
        j->depth++;
    else
        j->failed = 1;
    j->count[j->depth] = 0;
}

static void close_(ppx_json *j, char c)
{
    put(j, &c, 1);
    if (j->depth > 0)
        j->depth--;
}

void ppx_json_obj(ppx_json *j)
{
    open_(j, '{');
}
void ppx_json_obj_end(ppx_json *j)
{
    close_(j, '}');
}
void ppx_json_arr(ppx_json *j)
{
    open_(j, '[');
}
void ppx_json_arr_end(ppx_json *j)
{
    close_(j, ']');
}

static void quoted(ppx_json *j, const char *s, size_t n)
{
    put(j, "\"", 1);
    if (ppx_json_escape(j->out, s, n))
        j->failed = 1;
    put(j, "\"", 1);
}

void ppx_json_key(ppx_json *j, const char *key)
{
    sep(j);
    quoted(j, key, strlen(key));
    put(j, ":", 1);
    j->after_key = 1;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int ppx_json_escape(ppx_buf *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    char tmp[8];
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        unsigned c = s[i];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            rc = ppx_buf_append(out, tmp, 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            if (e)
                rc = ppx_buf_append(out, e, 2);
            else {
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                rc = ppx_buf_append(out, tmp, 6);
            }
            i++;
        } else {
            size_t len = utf8_len(s + i, n - i);
            if (len == 0) {
                snprintf(tmp, sizeof tmp, "\\udc%02x", c);
                rc = ppx_buf_append(out, tmp, 6);
                i++;
            } else {
                rc = ppx_buf_append(out, s + i, len);
                i += len;
            }
        }
    }
    return rc;
}

void ppx_json_strn(ppx_json *j, const char *s, size_t n)
{
    sep(j);
    quoted(j, s, n);
}

void ppx_json_str(ppx_json *j, const char *s)
{
    ppx_json_strn(j, s ? s : "", s ? strlen(s) : 0);
}

void ppx_json_u64(ppx_json *j, uint64_t v)
{
    char b[32];
    sep(j);
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    puts_(j, b);
}

void ppx_json_i64(ppx_json *j, int64_t v)
{
    char b[32];
    sep(j);
    snprintf(b, sizeof b, "%lld", (long long)v);
    puts_(j, b);
}

void ppx_json_dbl(ppx_json *j, double v)
{
    char b[40];
    sep(j);
    if (!isfinite(v)) {
        puts_(j, "null");
        return;
    }
    /* Shortest of %.15g / %.17g that reads back exactly. */
    snprintf(b, sizeof b, "%.15g", v);
    double back;
    if (sscanf(b, "%lf", &back) != 1 || back != v)
        snprintf(b, sizeof b, "%.17g", v);
    puts_(j, b);
}

void ppx_json_bool(ppx_json *j, int v)
{
    sep(j);
    puts_(j, v ? "true" : "false");
}

void ppx_json_null(ppx_json *j)
{
    sep(j);
    puts_(j, "null");
}

void ppx_escape_name(char *out, size_t cap, const char *name)
{
    ppx_buf b;
    ppx_buf_init(&b);
    if (cap == 0)
        return;
    if (ppx_json_escape(&b, name, strlen(name)) == 0)
        snprintf(out, cap, "%.*s", (int)b.len, (const char *)b.data);
    else
        snprintf(out, cap, "?");
    ppx_buf_destroy(&b);
}
