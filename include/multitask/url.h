/*
 * multitask/url.h - resolving and canonicalising URLs (Python's
 * urllib.parse.urljoin, and the normalisation a crawler needs to dedupe).
 *
 *   mt_buf u = MT_BUF_INIT;
 *   mt_url_resolve(&u, "http://example.com/a/b.html", "../img/c.png");
 *       // u.data: "http://example.com/img/c.png"
 *   mt_url_canonical(&u, "HTTP://Example.COM:80/a/./b/../%7euser#top");
 *       // u.data: "http://example.com/a/~user"
 *   mt_buf_free(&u);
 *
 * Both follow RFC 3986 (reference resolution, section 5.2; normalisation,
 * section 6.2.2-6.2.3) on byte strings, plus what browsers do to the text of
 * an href before resolving it: leading and trailing spaces and control
 * characters are dropped, tabs and newlines inside are removed. Results are
 * always valid URL text: bytes that may not appear in a URL (spaces,
 * controls, non-ASCII bytes, "<>\^`{|}) are percent-encoded. Host names are
 * taken as bytes: no IDNA conversion.
 *
 * Each function replaces the contents of `out` with the URL, NUL-terminated
 * (out->len excludes the NUL). On failure `out` holds no URL (len 0). All
 * three are pure functions of their arguments, with no global state:
 * thread-safe and fork-safe (resolve and canonical allocate, so they are
 * not async-signal-safe).
 */
#ifndef MULTITASK_URL_H
#define MULTITASK_URL_H

#include "buf.h"
#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * mt_url_resolve - the absolute URL that `ref` (an href, a src) names when
 * found in a page whose URL is `base`, like urljoin(base, ref).
 * `base` may be NULL when `ref` is known to be absolute. The fragment of
 * `ref` is kept; dot segments ("." and "..") are removed (and a path that
 * would then start with "//" without a host is written "/.//").
 * Returns 0; -EINVAL when `ref` is relative and `base` is NULL or not
 * absolute (no scheme); -ENOMEM.
 */
int mt_url_resolve(mt_buf *out, const char *base, const char *ref);

/*
 * mt_url_canonical - one spelling for every way of writing the same URL, so
 * that a crawler fetches each page once: scheme and host lower-cased, a
 * default port dropped (80 for http and ws, 443 for https and wss, 21 for
 * ftp) and a port's leading zeros, dot segments removed, the fragment
 * dropped, percent-encoding hex digits upper-cased and percent-encoded
 * unreserved characters (letters, digits, "-._~") decoded ("%2F" stays
 * encoded: it is not "/"), a "%" that starts no escape written "%25", an
 * empty path of a URL with a host made "/". Userinfo and query are kept
 * (with their percent-encoding normalised). The result is its own
 * canonical form. Returns 0; -EINVAL when `url` has no scheme, has "//" but
 * an empty host for http(s), a host with bytes no host may hold (spaces,
 * controls, "[" outside an IP literal...), or a port that is not a number
 * up to 65535; -ENOMEM.
 */
int mt_url_canonical(mt_buf *out, const char *url);

/*
 * mt_url_is_http - 1 when `url` is an absolute http: or https: URL with a
 * host (what a crawler may fetch), else 0. Thread-safe; no allocation.
 */
int mt_url_is_http(const char *url);

#ifdef __cplusplus
}
#endif
#endif
