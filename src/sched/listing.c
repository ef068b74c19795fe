#include "sched/listing.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "prepix/io.h"

#define MAX_DEPTH 256

int ppx_listing_add(ppx_listing *l, const char *key, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        uint64_t *o = realloc(l->off, cap * sizeof *o);
        if (!o)
            return PPX_ENOMEM;
        l->off = o;
        l->cap = cap;
    }
    if (l->arena_len + len + 1 > l->arena_cap) {
        size_t cap = l->arena_cap ? l->arena_cap : 65536;
        while (cap < l->arena_len + len + 1)
            cap *= 2;
        char *a = realloc(l->arena, cap);
        if (!a)
            return PPX_ENOMEM;
        l->arena = a;
        l->arena_cap = cap;
    }
    memcpy(l->arena + l->arena_len, key, len);
    l->arena[l->arena_len + len] = '\0';
    l->off[l->n++] = l->arena_len;
    l->arena_len += len + 1;
    l->hash = ppx_fnv1a(l->hash, key, len + 1); /* the NUL separates keys in the hash */
    return 0;
}

typedef struct {
    char *name;
    unsigned char type; /* d_type */
} entry;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* Lists folder root/rel (rel "" for the root itself). */
static int walk(ppx_listing *l, const char *rel, int depth, ppx_err *err)
{
    char dir[4096];
    if (ppx_path_join(dir, sizeof dir, l->root, rel))
        return ppx_err_set(err, PPX_EINVAL, PPX_STAGE_INPUT, "path too long under %s", l->root);
    DIR *d = opendir(dir);
    if (!d) {
        if (depth == 0)
            return ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "cannot open folder %s: %s", dir,
                               strerror(errno));
        /* An unreadable subfolder: its images are unknown; say so and go on. */
        fprintf(stderr, "prepix: warning: cannot read folder %s: %s\n", dir, strerror(errno));
        return 0;
    }
    entry *ents = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            entry *ne = realloc(ents, cap * sizeof *ne);
            if (!ne) {
                rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory listing %s",
                                 dir);
                goto out;
            }
            ents = ne;
        }
        ents[n].name = strdup(e->d_name);
        if (!ents[n].name) {
            rc = ppx_err_set(err, PPX_ENOMEM, PPX_STAGE_INPUT, "out of memory");
            goto out;
        }
        ents[n].type = e->d_type;
        n++;
    }
    if (n)
        qsort(ents, n, sizeof *ents, cmp_entry);
    for (size_t i = 0; i < n && !rc; i++) {
        char key[4096];
        if (ppx_path_join(key, sizeof key, rel, ents[i].name)) {
            fprintf(stderr, "prepix: warning: path too long, left out: %s/%s\n", dir, ents[i].name);
            continue;
        }
        int is_dir = ents[i].type == DT_DIR;
        if (ents[i].type == DT_UNKNOWN) {
            char full[4096];
            struct stat sb;
            if (ppx_path_join(full, sizeof full, l->root, key) == 0 && lstat(full, &sb) == 0)
                is_dir = S_ISDIR(sb.st_mode);
        }
        int image = ppx_is_image_name(ents[i].name);
        if (image)
            rc = ppx_listing_add(l, key, strlen(key));
        else if (!is_dir)
            l->skipped++;
        if (!rc && is_dir) {
            if (depth + 1 >= MAX_DEPTH)
                fprintf(stderr, "prepix: warning: folders nested too deep, left out: %s\n", key);
            else
                rc = walk(l, key, depth + 1, err);
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
    closedir(d);
    return rc;
}

static int read_list(ppx_listing *l, const char *file, ppx_err *err)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "cannot open list %s: %s", file,
                           strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        rc = ppx_listing_add(l, line, (size_t)len);
    }
    if (!rc && ferror(f))
        rc = ppx_err_set(err, PPX_EIO, PPX_STAGE_INPUT, "cannot read list %s", file);
    if (rc == PPX_ENOMEM)
        ppx_err_set(err, rc, PPX_STAGE_INPUT, "out of memory reading %s", file);
    free(line);
    fclose(f);
    return rc;
}

int ppx_listing_build(const char *input, ppx_listing *l, ppx_err *err)
{
    memset(l, 0, sizeof *l);
    l->hash = PPX_FNV1A_INIT;
    if (input[0] == '@') {
        const char *file = input + 1;
        const char *slash = strrchr(file, '/');
        if (slash)
            snprintf(l->root, sizeof l->root, "%.*s", (int)(slash - file), file);
        else
            snprintf(l->root, sizeof l->root, ".");
        if (l->root[0] == '\0')
            snprintf(l->root, sizeof l->root, "/");
        return read_list(l, file, err);
    }
    struct stat sb;
    if (stat(input, &sb) != 0)
        return ppx_err_set(err, PPX_ENOENT, PPX_STAGE_INPUT, "input %s: %s", input,
                           strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ppx_err_set(err, PPX_EUSAGE, PPX_STAGE_INPUT,
                           "input %s is not a folder (use @LIST for a list of files)", input);
    snprintf(l->root, sizeof l->root, "%s", input);
    return walk(l, "", 0, err);
}

void ppx_listing_destroy(ppx_listing *l)
{
    free(l->arena);
    free(l->off);
    memset(l, 0, sizeof *l);
}
