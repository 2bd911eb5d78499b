/*
 * remote_load.c - find the remote layer when a redis:// name is first used:
 * dlopen libmultitask-remote from the directory this library was loaded
 * from (installed side by side, and side by side in the build tree), else
 * by the dynamic linker's own search. Loaded once, never unloaded: handles
 * made through it may live until exit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "multitask/core.h"
#include "remote_ops.h"

/* The remote library's file name: the same major version as ours. */
#define REMOTE_SONAME "libmultitask-remote.so." MT__STR(MT_VERSION_MAJOR)
#define MT__STR(x)    MT__STR2(x)
#define MT__STR2(x)   #x

bool mt__remote_name(const char *name)
{
    return name && (strncmp(name, "redis://", 8) == 0 || strncmp(name, "redis+unix://", 13) == 0 ||
                    strncmp(name, "rediss://", 9) == 0);
}

/* dlopen the library beside the one holding this function, or NULL. */
static void *open_beside_us(void)
{
    Dl_info info;
    if (!dladdr((void *)open_beside_us, &info) || !info.dli_fname) return NULL;
    const char *slash = strrchr(info.dli_fname, '/');
    if (!slash) return NULL;
    char path[4096];
    int n = snprintf(path, sizeof path, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname,
                     REMOTE_SONAME);
    if (n < 0 || (size_t)n >= sizeof path) return NULL;
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

/* The library is opened once for all its tables: this one, and the
 * pool's (remote_pool_ops.h). */
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void *lib_any;

static void open_lib(void)
{
    lib_any = open_beside_us();
    if (!lib_any)
        lib_any = dlopen(REMOTE_SONAME, RTLD_NOW | RTLD_LOCAL);
}

void *mt__remote_sym(const char *symbol)
{
    pthread_once(&lib_once, open_lib);
    return lib_any ? dlsym(lib_any, symbol) : NULL;
}

int mt__remote_load(const mt__remote_ops **out)
{
    *out = mt__remote_sym(MT__REMOTE_OPS_SYMBOL);
    return *out ? 0 : -EPROTONOSUPPORT;
}
