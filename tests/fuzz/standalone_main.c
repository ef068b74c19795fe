/* A main() for fuzz targets in builds without libFuzzer (gcc): runs
 * LLVMFuzzerTestOneInput once on each file named on the command line, as
 * libvips' StandaloneFuzzTargetMain.c does, so that crashers and the corpus
 * replay as ordinary tests (under the asan preset, with the sanitizers).
 * Exit 0 when every input ran, 77 (skip) when an input file is missing
 * (the shared corpus is absent), 1 when a file cannot be read. A crash or a
 * broken contract aborts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) {
            printf("SKIP: %s not found (shared corpus absent?)\n", path);
            return 77;
        }
        perror(path);
        return 1;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *p = realloc(data, cap);
            if (!p) {
                rc = 1;
                break;
            }
            data = p;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        perror(path);
        rc = 1;
    }
    fclose(f);
    if (rc == 0) {
        printf("%s: %zu bytes\n", path, len);
        /* An empty file must reach the target too: a NULL pointer then. */
        LLVMFuzzerTestOneInput(len ? data : NULL, len);
    }
    free(data);
    return rc;
}

int main(int argc, char **argv)
{
    int status = 0;
    for (int i = 1; i < argc; i++) {
        int rc = run_file(argv[i]);
        if (rc > status)
            status = rc;
    }
    return status;
}
