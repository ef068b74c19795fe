/* The scheduler's messages are packed with the one little-endian encoding of
 * prepix/buf.h (ppx_put_u64, ppx_rd, ppx_get_u64, ppx_get_bytes); this header
 * only names it for the files that pack and unpack messages. */
#ifndef PPX_SCHED_MSG_H
#define PPX_SCHED_MSG_H

#include "prepix/buf.h"

#endif
