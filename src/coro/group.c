/*
 * group.c - task groups (asyncio.TaskGroup): children that fail cancel
 * their siblings and the owner; the owner waits for all of them and sees
 * the first error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "coro_internal.h"

typedef struct group {
    mt_task *owner;
    mt_task *children; /* list through group_next / group_prev */
    size_t remaining;
    int first_error;
    bool waiting;
    bool closed;     /* failing or finished: no new children */
    bool interrupted; /* the group cancelled its owner */
} group;

/* A group lives in the caller's mt_task_group, except when the owner runs
 * on the shared stack (see mt__rec): there it is on the heap while it is
 * open, and the last word of the mt_task_group points to it. */
#define HEAP_WORD 5
_Static_assert(sizeof(group) <= HEAP_WORD * sizeof(void *), "mt_task_group too small");
_Static_assert(HEAP_WORD < sizeof(mt_task_group) / sizeof(void *), "mt_task_group too small");

static group *group_of(mt_task_group *g)
{
    return g->priv[HEAP_WORD] ? g->priv[HEAP_WORD] : (group *)(void *)g;
}

int mt_task_group_init(mt_task_group *g)
{
    mt_task *cur = mt__current();
    if (!cur)
        return MT_ENOTCORO;
    if (!g)
        return -EINVAL;
    group *gr = mt__rec(cur, g, sizeof *gr);
    if (!gr)
        return -ENOMEM;
    memset(gr, 0, sizeof *gr);
    g->priv[HEAP_WORD] = gr != (group *)(void *)g ? gr : NULL;
    gr->owner = cur;
    return 0;
}

static void cancel_children(group *gr)
{
    for (mt_task *c = gr->children; c; c = c->extra->group_next)
        mt__interrupt(c, MT__I_CANCEL);
}

int mt_task_group_create_task(mt_task_group *g, mt_co_fn *fn, void *arg,
                              const mt_task_opts *opts, mt_task **out)
{
    group *gr = g ? group_of(g) : NULL;
    if (!gr || !gr->owner)
        return -EINVAL;
    if (gr->closed)
        return MT_ECLOSED;
    mt_task *t;
    int err = mt__task_new(gr->owner->loop, &t, (out ? MT__NEW_HANDLE : 0) | MT__NEW_EXTRA, fn,
                           arg, opts);
    if (err)
        return err;
    mt__task_extra *x = t->extra;
    x->group = (struct mt_task_group *)gr;
    x->group_prev = NULL;
    x->group_next = gr->children;
    if (gr->children)
        gr->children->extra->group_prev = t;
    gr->children = t;
    gr->remaining++;
    if (out)
        *out = t;
    return 0;
}

void mt__group_child_ended(mt_task *t)
{
    mt__task_extra *x = t->extra;
    group *gr = (group *)x->group;
    if (x->group_prev)
        x->group_prev->extra->group_next = x->group_next;
    else
        gr->children = x->group_next;
    if (x->group_next)
        x->group_next->extra->group_prev = x->group_prev;
    x->group = NULL;
    x->group_prev = x->group_next = NULL;
    t->flags |= MT__F_RETRIEVED;
    gr->remaining--;
    if (t->result < 0 && t->result != -ECANCELED && !gr->first_error) {
        gr->first_error = t->result;
        gr->closed = true;
        cancel_children(gr);
        if (!gr->waiting) {
            gr->interrupted = true;
            mt__interrupt(gr->owner, MT__I_GROUP);
        }
    }
    if (gr->waiting && gr->remaining == 0)
        mt__wake(gr->owner, 0);
}

int mt_task_group_wait(mt_task_group *g)
{
    group *gr = g ? group_of(g) : NULL;
    mt_task *cur = mt__current();
    if (!cur)
        return MT_ENOTCORO;
    if (!gr || gr->owner != cur)
        return -EINVAL;
    gr->waiting = true;
    bool cancelled = false;
    while (gr->remaining) {
        int r = mt__suspend(cur, cancelled || gr->first_error);
        if (r == -ECANCELED || r == -ETIMEDOUT) {
            /* The owner is stopped from outside (or by our own request,
             * already handled): cancel the children, wait for them all. */
            if (!(cur->interrupt & MT__I_GROUP) || (cur->interrupt & ~MT__I_GROUP))
                cancelled = true;
            gr->closed = true;
            cancel_children(gr);
        }
    }
    gr->waiting = false;
    gr->closed = true;
    if (gr->interrupted)
        cur->interrupt &= (uint8_t)~MT__I_GROUP;
    int first_error = gr->first_error;
    if (g->priv[HEAP_WORD]) { /* finished: the caller's struct says so now */
        g->priv[HEAP_WORD] = NULL;
        group *inline_gr = (group *)(void *)g;
        *inline_gr = *gr;
        free(gr);
    }
    if (first_error)
        return first_error;
    int code = mt__interrupt_code(cur);
    if (code)
        return code;
    return cancelled ? -ECANCELED : 0;
}
