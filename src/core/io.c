#include "prepix/io.h"

#include "prepix/fsafe.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int ppx_file_read(const char *path, uint64_t max_bytes, ppx_buf *b, ppx_file_id *id, ppx_err *err)
{
    b->len = 0;
    int fd = ppx_open_input_at(AT_FDCWD, path, 1, err);
    return fd < 0 ? fd : ppx_fd_read_all(fd, max_bytes, b, id, err);
}

int ppx_path_join(char *out, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    int n = (la == 0 || b[0] == '/') ? snprintf(out, cap, "%s", b)
                                     : snprintf(out, cap, "%.*s/%s", (int)la, a, b);
    return (n < 0 || (size_t)n >= cap) ? PPX_EINVAL : 0;
}

int ppx_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return 0;
    static const char *const exts[] = {".jpg", ".jpeg", ".tif", ".tiff", ".png", ".webp"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}
