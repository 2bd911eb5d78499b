/*
 * init.c - libxml2's process-wide set-up, done once, and the silencing of
 * its error output. libxml2 prints parse errors to stderr unless told
 * otherwise, and some errors (a charset conversion failure) go to its
 * thread's generic handler whatever the parser's options say. Its handlers
 * are per-thread state, so each call swaps in ours for its own duration
 * and thread only: other threads, and the program's own use of libxml2,
 * see their handlers untouched.
 */
#include <pthread.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "html_internal.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void)
{
    /* Makes libxml2's global tables and thread support ready; after it,
     * parsers and documents may be used from any threads, one per thread. */
    xmlInitParser();
}

void mt__html_init(void)
{
    pthread_once(&init_once, init);
}

static void ignore(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

void mt__html_quiet_begin(mt__html_quiet *q, xmlStructuredErrorFunc fn, void *ctx)
{
    /* These names are macros reading the calling thread's own state. */
    q->generic = xmlGenericError;
    q->generic_ctx = xmlGenericErrorContext;
    q->structured = xmlStructuredError;
    q->structured_ctx = xmlStructuredErrorContext;
    xmlSetGenericErrorFunc(NULL, ignore);
    xmlSetStructuredErrorFunc(ctx, fn);
}

void mt__html_quiet_end(const mt__html_quiet *q)
{
    xmlSetGenericErrorFunc(q->generic_ctx, q->generic);
    xmlSetStructuredErrorFunc(q->structured_ctx, q->structured);
}

mt_html_opts mt__html_opts(const mt_html_opts *opts)
{
    mt_html_opts o = opts ? *opts : (mt_html_opts){0};
    if (!o.max_bytes)
        o.max_bytes = MT_HTML_MAX_BYTES_DEFAULT;
    if (!o.max_results)
        o.max_results = MT_HTML_MAX_RESULTS_DEFAULT;
    if (!o.max_nodes)
        o.max_nodes = MT_HTML_MAX_NODES_DEFAULT;
    if (!o.max_xpath_ops)
        o.max_xpath_ops = MT_HTML_MAX_XPATH_OPS_DEFAULT;
    o.encoding = NULL;
    return o;
}
