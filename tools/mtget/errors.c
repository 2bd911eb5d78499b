/*
 * errors.c - messages for mtget's own error codes (mtget.h), and for
 * -errno through the library's table.
 */
#include "multitask.h"
#include "mtget.h"

const char *mtget_strerror(int err)
{
    switch (err) {
    case MTGET_ETOOBIG:
        return "the file is larger than the size cap";
    case MTGET_ELENGTH:
        return "the body's length is not the announced one";
    case MTGET_ETMPGONE:
        return "the temporary file was replaced by another file";
    case MTGET_ESTATUS:
        return "the server answered with an error status";
    case MTGET_EROBOTS:
        return "disallowed by robots.txt";
    case MTGET_ENOROBOTS:
        return "its host's robots.txt cannot be read";
    default:
        return mt_strerror(err);
    }
}
