/*
 * resolve.c - mt_url_resolve: RFC 3986 reference resolution (section
 * 5.2.2), what urljoin and a browser do with an href.
 */
#define _GNU_SOURCE
#include <string.h>

#include "url_internal.h"

/* Append "/" or the base path up to its last "/", then the reference's
 * path: the merge of section 5.2.3, before dot segments are removed. */
static int merge(mt_buf *tmp, const mt__url *base, mt__url_part ref_path)
{
    mt_buf_reset(tmp);
    int err = 0;
    if (base->authority.has && base->path.n == 0) {
        err = mt_buf_append(tmp, "/", 1);
    } else {
        const char *slash = memrchr(base->path.s, '/', base->path.n);
        if (slash)
            err = mt_buf_append(tmp, base->path.s, (size_t)(slash - base->path.s) + 1);
    }
    return err < 0 ? err : mt_buf_append(tmp, ref_path.s, ref_path.n);
}

static int compose(mt_buf *out, const mt__url *t, mt__url_part path)
{
    int err = mt__url_append(out, t->scheme.s, t->scheme.n);
    if (!err)
        err = mt_buf_append(out, ":", 1);
    if (!err && t->authority.has) {
        err = mt_buf_append(out, "//", 2);
        if (!err)
            err = mt__url_append(out, t->authority.s, t->authority.n);
    }
    size_t path_start = out->len;
    if (!err)
        err = mt__url_append_path(out, path.s, path.n);
    if (!err && !t->authority.has)
        err = mt__url_guard_path(out, path_start);
    if (!err && t->query.has) {
        err = mt_buf_append(out, "?", 1);
        if (!err)
            err = mt__url_append(out, t->query.s, t->query.n);
    }
    if (!err && t->fragment.has) {
        err = mt_buf_append(out, "#", 1);
        if (!err)
            err = mt__url_append(out, t->fragment.s, t->fragment.n);
    }
    if (!err)
        err = mt_buf_reserve(out, 1);
    if (!err)
        out->data[out->len] = '\0';
    return err;
}

int mt_url_resolve(mt_buf *out, const char *base, const char *ref)
{
    if (!out || !ref)
        return -EINVAL;
    mt_buf_reset(out);
    mt_buf rbuf = MT_BUF_INIT, bbuf = MT_BUF_INIT, merged = MT_BUF_INIT;
    mt__url r, b, t;
    int err = mt__url_clean(&rbuf, ref);
    if (err < 0)
        goto done;
    mt__url_split(rbuf.data, rbuf.len, &r);

    if (r.scheme.has) {
        err = compose(out, &r, r.path);
        goto done;
    }
    err = -EINVAL;
    if (!base)
        goto done;
    err = mt__url_clean(&bbuf, base);
    if (err < 0)
        goto done;
    mt__url_split(bbuf.data, bbuf.len, &b);
    err = -EINVAL;
    if (!b.scheme.has)
        goto done;

    t = r;
    t.scheme = b.scheme;
    mt__url_part path = r.path;
    if (!r.authority.has) {
        t.authority = b.authority;
        if (r.path.n == 0) {
            path = b.path;
            if (!r.query.has)
                t.query = b.query;
        } else if (r.path.s[0] != '/') {
            err = merge(&merged, &b, r.path);
            if (err < 0)
                goto done;
            path = (mt__url_part){merged.data, merged.len, true};
        }
    }
    err = compose(out, &t, path);
done:
    if (err < 0)
        mt_buf_reset(out);
    mt_buf_free(&rbuf);
    mt_buf_free(&bbuf);
    mt_buf_free(&merged);
    return err;
}
