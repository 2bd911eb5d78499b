/*
 * xpath.c - XPath 1.0 queries on a document, each result a string, with
 * limits on the expression's length, its work and its number of results.
 */
#define _GNU_SOURCE
#include <string.h>

#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "html_internal.h"

/* libxml2 2.9.14 stops an expression whose recursion depth reaches 5000
 * (XPATH_MAX_RECURSION_DEPTH, not in its headers): 10 per nested
 * expression while compiling, 1 per nested operation while evaluating.
 * Starting at 5000 - DEPTH_BUDGET leaves 20 nested parentheses or 200
 * nested operations ("1+1+...+1"), which real queries never come near,
 * and keeps the C stack under about 64 KiB (the limit itself would let a
 * 4 KiB expression use more than 256 KiB). */
#define LIBXML_MAX_DEPTH 5000
#define DEPTH_BUDGET 200

/* What went wrong, in our words, for libxml2's XPath error numbers. */
static const char *xpath_problem(int code)
{
    switch (code) {
    case XPATH_NUMBER_ERROR: return "bad number";
    case XPATH_UNFINISHED_LITERAL_ERROR: return "string not closed";
    case XPATH_START_LITERAL_ERROR: return "string expected";
    case XPATH_VARIABLE_REF_ERROR: return "bad variable reference";
    case XPATH_UNDEF_VARIABLE_ERROR: return "variables are not supported";
    case XPATH_INVALID_PREDICATE_ERROR: return "bad predicate";
    case XPATH_EXPR_ERROR: return "syntax error";
    case XPATH_UNCLOSED_ERROR: return "bracket or parenthesis not closed";
    case XPATH_UNKNOWN_FUNC_ERROR: return "unknown function";
    case XPATH_INVALID_OPERAND: return "bad operand";
    case XPATH_INVALID_TYPE: return "wrong type of value";
    case XPATH_INVALID_ARITY: return "wrong number of arguments";
    case XPATH_UNDEF_PREFIX_ERROR: return "undefined namespace prefix";
    case XPATH_ENCODING_ERROR: return "expression is not UTF-8";
    case XPATH_INVALID_CHAR_ERROR: return "character not allowed here";
    case XPATH_OP_LIMIT_EXCEEDED: return "expression does too much work (max_xpath_ops)";
    case XPATH_RECURSION_LIMIT_EXCEEDED: return "expression nested too deep";
    case XPATH_MEMORY_ERROR: return "out of memory";
    default: return "invalid expression";
    }
}

typedef struct eval_state {
    int code;   /* the first XPath error number, or 0 */
    int offset; /* where in the expression */
    bool nomem;
} eval_state;

static void on_error(void *ctx, xmlErrorPtr e)
{
    eval_state *st = ctx;
    if (!e)
        return;
    if (e->code == XML_ERR_NO_MEMORY)
        st->nomem = true;
    if (e->domain == XML_FROM_XPATH && !st->code) {
        st->code = e->code - XML_XPATH_EXPRESSION_OK + XPATH_EXPRESSION_OK;
        st->offset = e->int1;
    }
}

static int fail(mt_html_doc *doc, int err, const char *expr, const eval_state *st)
{
    mt_buf_reset(&doc->error);
    int werr;
    if (err == -EMSGSIZE && !st)
        werr = mt_buf_printf(&doc->error, "xpath: more results than max_results (%zu)",
                             doc->max_results);
    else if (!st)
        werr = mt_buf_printf(&doc->error, "xpath: expression longer than %u bytes",
                             MT_HTML_MAX_XPATH_LEN);
    else
        werr = mt_buf_printf(&doc->error, "xpath: %s at offset %d in '%.200s%s'",
                             xpath_problem(st->code), st->offset, expr,
                             strlen(expr) > 200 ? "..." : "");
    if (werr < 0)
        mt_buf_reset(&doc->error);
    return err;
}

static int error_of(const eval_state *st)
{
    if (st->nomem || st->code == XPATH_MEMORY_ERROR)
        return -ENOMEM;
    return st->code == XPATH_OP_LIMIT_EXCEEDED ? -EMSGSIZE : -EINVAL;
}

/* One result: a node's string-value, or the value of a non-node-set. */
static int give(xmlNodePtr node, xmlXPathObjectPtr obj, mt_html_each_fn *fn, void *ctx)
{
    eval_state st = {0};
    mt__html_quiet q;
    mt__html_quiet_begin(&q, on_error, &st);
    xmlChar *s = node ? xmlXPathCastNodeToString(node) : xmlXPathCastToString(obj);
    mt__html_quiet_end(&q);
    if (!s || st.nomem) {
        xmlFree(s);
        return -ENOMEM;
    }
    /* Called with the thread's own handlers back: fn may use libxml2. */
    int r = fn(ctx, (const char *)s, strlen((const char *)s));
    xmlFree(s);
    return r;
}

int mt_html_xpath(mt_html_doc *doc, const char *expr, mt_html_each_fn *fn, void *ctx)
{
    if (!doc || !expr || !fn)
        return -EINVAL;
    mt_buf_reset(&doc->error);
    if (strlen(expr) > MT_HTML_MAX_XPATH_LEN)
        return fail(doc, -EINVAL, expr, NULL);

    eval_state st = {0};
    mt__html_quiet q;
    mt__html_quiet_begin(&q, on_error, &st);
    xmlXPathObjectPtr obj = NULL;
    xmlXPathContextPtr x = xmlXPathNewContext(doc->xml);
    if (x) {
        x->opLimit = doc->max_xpath_ops;
        x->depth = LIBXML_MAX_DEPTH - DEPTH_BUDGET;
        x->error = on_error; /* else XPath errors are printed */
        x->userData = &st;
        obj = xmlXPathEvalExpression((const xmlChar *)expr, x);
    }
    mt__html_quiet_end(&q);
    int err = 0;
    if (!x || st.nomem) {
        err = -ENOMEM;
    } else if (!obj) {
        err = fail(doc, error_of(&st), expr, &st);
    } else if (obj->type != XPATH_NODESET) {
        err = give(NULL, obj, fn, ctx);
    } else if (obj->nodesetval && (size_t)obj->nodesetval->nodeNr > doc->max_results) {
        err = fail(doc, -EMSGSIZE, expr, NULL);
    } else {
        int n = obj->nodesetval ? obj->nodesetval->nodeNr : 0;
        for (int i = 0; i < n && !err; i++)
            err = give(obj->nodesetval->nodeTab[i], NULL, fn, ctx);
    }
    xmlXPathFreeObject(obj);
    xmlXPathFreeContext(x);
    return err;
}

typedef struct list_state {
    mt_buf *out;
    int count;
} list_state;

static int append_one(void *ctx, const char *s, size_t len)
{
    list_state *ls = ctx;
    int err = mt_buf_append(ls->out, s, len + 1); /* with its NUL */
    ls->count++;
    return err;
}

/* Run a query with append_one; on error `out` is as it was. */
int mt__html_collect(mt_html_doc *doc, const char *expr, mt_buf *out,
                     int (*query)(mt_html_doc *, const char *, mt_html_each_fn *, void *))
{
    if (!out)
        return -EINVAL;
    size_t before = out->len;
    list_state ls = {out, 0};
    int err = query(doc, expr, append_one, &ls);
    if (err < 0) {
        out->len = before;
        return err;
    }
    return ls.count;
}

int mt_html_xpath_list(mt_html_doc *doc, const char *expr, mt_buf *out)
{
    return mt__html_collect(doc, expr, out, mt_html_xpath);
}
