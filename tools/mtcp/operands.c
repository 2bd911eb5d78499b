/*
 * operands.c - the SOURCE operands taken together. The same SOURCE given
 * twice (`mtcp a a dst/`, or `a` and `./a`) is copied once, with a warning,
 * as cp does: two workers must never write one destination name at once.
 * Different SOURCEs that want the same destination name are copied one
 * after the other, in the order given: directories merge (a file of the
 * later one replaces the earlier one's), and a non-directory does not
 * replace what an earlier SOURCE just made there (as cp refuses to).
 * Operands are sorted into rounds; main.c runs the engine once per round.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mtcp.h"

static bool same_dest(const mtcp_operand *a, const mtcp_operand *b)
{
    return a->dst_dev == b->dst_dev && a->dst_ino == b->dst_ino &&
           strcmp(a->dst_name, b->dst_name) == 0;
}

static bool same_source(const mtcp_operand *a, const mtcp_operand *b)
{
    return a->src_st.st_dev == b->src_st.st_dev && a->src_st.st_ino == b->src_st.st_ino;
}

static int by_round(const void *a, const void *b)
{
    const mtcp_operand *x = a, *y = b;
    return (x->round > y->round) - (x->round < y->round);
}

/* The destination path of op, for messages. */
static char *dest_path(const mtcp_operand *op, const char *dest, bool into)
{
    return into ? mtcp_join(dest, op->dst_name) : strdup(dest);
}

int mtcp_operands_plan(mtcp *m, mtcp_operand *ops, int nops, const char *dest, bool into)
{
    int rounds = nops > 0 ? 1 : 0;
    for (int i = 0; i < nops; i++) {
        mtcp_operand *op = &ops[i];
        op->round = 0;
        for (int j = 0; j < i; j++) {
            const mtcp_operand *earlier = &ops[j];
            if (earlier->drop || !same_dest(op, earlier))
                continue;
            if (same_source(op, earlier)) {
                op->drop = MTCP_DROP_REPEAT;
                if (!earlier->repeated) {
                    ops[j].repeated = true;
                    mtcp_warn(m, "source %s '%s' specified more than once",
                              S_ISDIR(op->src_st.st_mode) ? "directory" : "file", op->src);
                }
                break;
            }
            if (!S_ISDIR(op->src_st.st_mode) || !S_ISDIR(earlier->src_st.st_mode)) {
                char *to = dest_path(op, dest, into);
                char *q = cli_quote(to ? to : dest), *qs = cli_quote(op->src);
                mt_progress_print(NULL, 2, MTCP_NAME ": will not overwrite just-created '%s' with '%s'",
                                  q ? q : "?", qs ? qs : "?");
                free(q);
                free(qs);
                free(to);
                op->drop = MTCP_DROP_FAILED;
                atomic_fetch_add(&m->files_failed, 1);
                break;
            }
            if (op->round <= earlier->round)
                op->round = earlier->round + 1;
        }
        if (!op->drop && op->round + 1 > rounds)
            rounds = op->round + 1;
    }
    qsort(ops, (size_t)nops, sizeof *ops, by_round);
    return rounds;
}
