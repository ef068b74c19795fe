#ifndef PPX_CLI_INSPECT_ARCHIVE_H
#define PPX_CLI_INSPECT_ARCHIVE_H

#include "prepix/buf.h"
#include "prepix/error.h"
#include "prepix/json.h"

/* The "error" member of an inspect line: {code, stage, reason}. */
void ppx_cli_json_error(ppx_json *j, int code, const ppx_err *err);

/* Describes the archive at path as one JSON object in line (see
 * inspect_archive.c). Returns 1 when it cannot be read whole, else 0. */
PPX_MUST_USE int ppx_cli_inspect_archive(const char *path, ppx_buf *line);

#endif
