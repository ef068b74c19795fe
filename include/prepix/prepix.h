/* prepix: umbrella header of the library. */
#ifndef PREPIX_PREPIX_H
#define PREPIX_PREPIX_H

#include "prepix/buf.h"
#include "prepix/codec.h"
#include "prepix/error.h"
#include "prepix/image.h"
#include "prepix/limits.h"
#include "prepix/pipeline.h"

#endif
