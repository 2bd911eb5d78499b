/*
 * fn_registry.c - functions by name (fn.h's MT_FN_REGISTER): a list that
 * only grows, pushed with compare-and-swap, so a lookup takes no lock and
 * a registration from a constructor needs no initialisation first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "multitask/core.h"
#include "multitask/fn.h"

#define NAME_MAX_BYTES 200

static _Atomic(mt_fn_entry *) registry;

static bool name_ok(const char *name)
{
    size_t n = strnlen(name, NAME_MAX_BYTES + 1);
    if (n == 0 || n > NAME_MAX_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x21)
            return false;
    return true;
}

static mt_fn_entry *find(const char *name)
{
    for (mt_fn_entry *e = atomic_load(&registry); e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

int mt_fn_register(mt_fn_entry *e)
{
    if (!e || !e->name || !e->fn || !name_ok(e->name))
        return -EINVAL;
    mt_fn_entry *head = atomic_load(&registry);
    for (;;) {
        mt_fn_entry *old = find(e->name);
        if (old)
            return old->fn == e->fn ? 0 : -EEXIST;
        e->next = head;
        if (atomic_compare_exchange_weak(&registry, &head, e))
            return 0;
    }
}

mt_fn *mt_fn_lookup(const char *name)
{
    mt_fn_entry *e = name ? find(name) : NULL;
    return e ? e->fn : NULL;
}

const char *mt_fn_name(mt_fn *fn)
{
    const char *name = NULL;
    for (mt_fn_entry *e = atomic_load(&registry); e; e = e->next)
        if (e->fn == fn)
            name = e->name; /* the list is newest first: keep the oldest */
    return name;
}
