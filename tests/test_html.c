/*
 * test_html.c - the html layer (parsing, XPath, links) and URLs (resolve,
 * canonical form), on friendly and on hostile input.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "helpers.h"
#include "multitask/html.h"

#include <libxml/xmlerror.h>

/* The lecture's list page, as such sites write it: a nav, scripts, a grid
 * of images in li.list-group-item (some lazily loaded, some not), ads that
 * look alike but are not list items, pagination. */
static const char list_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>表情包 - 第1页</title>\n"
    "<link rel=\"stylesheet\" href=\"/static/css/app.css\">\n"
    "<script>var page = 1; if (a < b && c > d) { document.write('<li class=\"list-group-item\">'); }</script>\n"
    "</head>\n<body>\n"
    "<nav class=\"navbar\"><a href=\"/\">home</a> <a href=\"/photo/list/\">photos</a></nav>\n"
    "<div class=\"container\">\n"
    "<ul class=\"list-group\">\n"
    "  <li class=\"list-group-item\"><img class=\"img-responsive lazy\" src=\"/static/loading.gif\"\n"
    "      data-original=\"http://img.example.com/large/001.jpg\" alt=\"one\"></li>\n"
    "  <li class=\"list-group-item\"><img class=\"img-responsive lazy\" src=\"/static/loading.gif\"\n"
    "      data-original=\"//img.example.com/large/002.gif\" alt=\"two\"></li>\n"
    "  <li class=\"list-group-item active\"><img data-original=\"http://img.example.com/ad.jpg\"></li>\n"
    "  <li class=\"list-group-item\"><img class=\"img-responsive lazy\" src=\"/static/loading.gif\"\n"
    "      data-original=\"/large/003.png?w=1&amp;h=2\" alt=\"three\"></li>\n"
    "  <li class=\"list-group-item\"><p>no image here</p></li>\n"
    "</ul>\n"
    "<div class=\"ad\"><img data-original=\"http://ads.example.com/x.jpg\"></div>\n"
    "</div>\n"
    "<ul class=\"pagination\"><li><a href=\"?page=2\" rel=\"next\">next &raquo;</a></li></ul>\n"
    "</body>\n</html>\n";

#define SEED_XPATH "//li[@class=\"list-group-item\"]/img/@data-original"
#define PAGE_URL "http://www.example.com/photo/list/?page=1"

/* The NUL-separated strings of a _list call, checked one by one. */
static void expect_list(const mt_buf *b, int n, const char *const *want, int nwant)
{
    cr_expect_eq(n, nwant, "%d results, want %d", n, nwant);
    const char *s = b->data;
    for (int i = 0; i < n && i < nwant; i++) {
        cr_expect_str_eq(s, want[i], "result %d: '%s', want '%s'", i, s, want[i]);
        s += strlen(s) + 1;
    }
}

static mt_html_doc *parse_ok(const char *html, const char *url)
{
    mt_html_doc *doc = NULL;
    cr_assert_eq(mt_html_parse(&doc, html, strlen(html), url, NULL), 0);
    cr_assert_not_null(doc);
    return doc;
}

/* Everything a page answers to the queries we care about, as one string. */
static void answers(mt_html_doc *doc, mt_buf *out)
{
    static const char *const queries[] = {SEED_XPATH, "//a/@href", "//title", "//script",
                                          "string(/)", "//@*", "//comment()"};
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        mt_buf_printf(out, "[%s]", queries[i]);
        cr_expect_geq(mt_html_xpath_list(doc, queries[i], out), 0);
    }
}

static void expect_push_equals_parse(const char *page, size_t len, size_t step)
{
    mt_html_doc *one = NULL, *pushed = NULL;
    cr_assert_eq(mt_html_parse(&one, page, len, PAGE_URL, NULL), 0);
    mt_html_parser *p;
    cr_assert_eq(mt_html_parser_new(&p, PAGE_URL, NULL), 0);
    for (size_t i = 0; i < len; i += step)
        cr_assert_eq(mt_html_parser_feed(p, page + i, len - i < step ? len - i : step), 0);
    cr_assert_eq(mt_html_parser_finish(p, &pushed), 0);
    mt_html_doc *again = (mt_html_doc *)1;
    cr_expect_eq(mt_html_parser_finish(p, &again), -EINVAL);
    cr_expect_null(again);
    cr_expect_eq(mt_html_parser_feed(p, "x", 1), -EINVAL);
    mt_html_parser_free(p);

    mt_buf a = MT_BUF_INIT, b = MT_BUF_INIT;
    answers(one, &a);
    answers(pushed, &b);
    cr_expect_eq(a.len, b.len, "step %zu: %zu bytes of answers, pushed %zu", step, a.len, b.len);
    cr_expect(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "step %zu differs", step);
    cr_expect_str_eq(mt_html_doc_base(one), mt_html_doc_base(pushed));
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        for (size_t i = 0; i < a.len; i++)
            a.data[i] = a.data[i] ? a.data[i] : '|';
        for (size_t i = 0; i < b.len; i++)
            b.data[i] = b.data[i] ? b.data[i] : '|';
        cr_log_error("one-shot: %.*s\npushed:   %.*s", (int)a.len, a.data, (int)b.len, b.data);
    }
    mt_buf_free(&a);
    mt_buf_free(&b);
    mt_html_doc_free(one);
    mt_html_doc_free(pushed);
}

LEAK_TEST(html, seed_xpath_as_written)
{
    mt_html_doc *doc = parse_ok(list_page, PAGE_URL);
    mt_buf b = MT_BUF_INIT;
    int n = mt_html_xpath_list(doc, SEED_XPATH, &b);
    const char *want[] = {"http://img.example.com/large/001.jpg", "//img.example.com/large/002.gif",
                          "/large/003.png?w=1&h=2"};
    expect_list(&b, n, want, 3);

    mt_buf_reset(&b);
    n = mt_html_links_list(doc, SEED_XPATH, &b);
    const char *links[] = {"http://img.example.com/large/001.jpg",
                           "http://img.example.com/large/002.gif",
                           "http://www.example.com/large/003.png?w=1&h=2"};
    expect_list(&b, n, links, 3);

    mt_buf_reset(&b);
    n = mt_html_links_list(doc, "//a[@rel='next']/@href", &b);
    const char *next[] = {"http://www.example.com/photo/list/?page=2"};
    expect_list(&b, n, next, 1);

    mt_buf_reset(&b);
    n = mt_html_xpath_list(doc, "//title", &b);
    const char *title[] = {"表情包 - 第1页"};
    expect_list(&b, n, title, 1);

    /* Values that are not node-sets give one string. */
    mt_buf_reset(&b);
    n = mt_html_xpath_list(doc, "count(//li[@class='list-group-item'])", &b);
    const char *count[] = {"4"};
    expect_list(&b, n, count, 1);
    cr_expect_str_eq(mt_html_error(doc), "");
    cr_expect_null(mt_html_doc_warning(doc));
    mt_buf_free(&b);
    mt_html_doc_free(doc);
}

LEAK_TEST(html, entities_are_decoded)
{
    mt_html_doc *doc = parse_ok("<p title='&lt;b&gt; caf&eacute; &#x263A; &#169;'>"
                                "Tom &amp; Jerry&nbsp;&copy;</p>"
                                "<a href=\"/s?a=1&amp;b=2&#38;c=&quot;x&quot;\">x</a>",
                                "http://h/");
    mt_buf b = MT_BUF_INIT;
    int n = mt_html_xpath_list(doc, "//p/@title | //p | //a/@href", &b);
    /* (document order: an element, then its attributes) */
    const char *want[] = {"Tom & Jerry\xc2\xa0©", "<b> café ☺ ©", "/s?a=1&b=2&c=\"x\""};
    expect_list(&b, n, want, 3);
    /* As a link, the quote is percent-encoded: a URL may not hold one. */
    mt_buf_reset(&b);
    n = mt_html_links_list(doc, "//a/@href", &b);
    const char *link[] = {"http://h/s?a=1&b=2&c=%22x%22"};
    expect_list(&b, n, link, 1);
    mt_buf_free(&b);
    mt_html_doc_free(doc);
}

LEAK_TEST(html, base_href)
{
    const char *page = "<html><head><base href='/static/v2/'><base href='http://other/'></head>"
                       "<body><a href='a.png'>1</a><a href='../b.png'>2</a>"
                       "<a href='/c.png'>3</a><a href='http://x.org/d'>4</a></body></html>";
    mt_html_doc *doc = parse_ok(page, "https://site.example/dir/page.html");
    cr_expect_str_eq(mt_html_doc_base(doc), "https://site.example/static/v2/");
    mt_buf b = MT_BUF_INIT;
    int n = mt_html_links_list(doc, "//a/@href", &b);
    const char *want[] = {"https://site.example/static/v2/a.png", "https://site.example/static/b.png",
                          "https://site.example/c.png", "http://x.org/d"};
    expect_list(&b, n, want, 4);
    mt_buf_free(&b);
    mt_html_doc_free(doc);

    /* A base of javascript: is not followed; an absolute base works
     * without a page URL; no base and no URL: only absolute links. */
    doc = parse_ok("<base href='javascript:alert(1)'><a href='x'>", "http://h/p/q");
    cr_expect_str_eq(mt_html_doc_base(doc), "http://h/p/q");
    mt_html_doc_free(doc);
    doc = parse_ok("<base href='http://B/dir/'><a href='x'>", NULL);
    cr_expect_str_eq(mt_html_doc_base(doc), "http://B/dir/");
    mt_html_doc_free(doc);
    doc = parse_ok("<a href='x'></a><a href='HTTP://abs/'></a>", NULL);
    cr_expect_null(mt_html_doc_base(doc));
    n = mt_html_links_list(doc, "//a/@href", &b);
    const char *abs[] = {"HTTP://abs/"};
    expect_list(&b, n, abs, 1);
    mt_buf_free(&b);
    mt_html_doc_free(doc);
}

LEAK_TEST(html, links_resolve_and_unsafe_schemes_are_dropped)
{
    const char *page = "<a href='rel/x.html'></a>"
                       "<a href='../up.html'></a>"
                       "<a href='../../../../too-far'></a>"
                       "<a href='/root'></a>"
                       "<a href='//cdn.example/lib.js'></a>"
                       "<a href='https://secure.example/'></a>"
                       "<a href='?q=1'></a>"
                       "<a href='#frag'></a>"
                       "<a href='page2.html#section'></a>"
                       "<a href='  \n spaced.html\t '></a>"
                       "<a href='with space/ü.html'></a>"
                       "<a href='javascript:alert(1)'></a>"
                       "<a href=' JavaScript:void(0)'></a>"
                       "<a href='mailto:me@example.com'></a>"
                       "<a href='data:text/html,<b>x</b>'></a>"
                       "<a href='file:///etc/passwd'></a>"
                       "<a href='ftp://files.example/x'></a>"
                       "<a href='tel:+123'></a>"
                       "<a href='http://'></a>"
                       "<a href='http:no-slashes'></a>";
    mt_html_doc *doc = parse_ok(page, "http://example.com/a/b/index.html?x=y#top");
    mt_buf b = MT_BUF_INIT;
    int n = mt_html_links_list(doc, "//a/@href", &b);
    const char *want[] = {
        "http://example.com/a/b/rel/x.html", "http://example.com/a/up.html",
        "http://example.com/too-far",        "http://example.com/root",
        "http://cdn.example/lib.js",         "https://secure.example/",
        "http://example.com/a/b/index.html?q=1",
        "http://example.com/a/b/index.html?x=y",
        "http://example.com/a/b/page2.html", "http://example.com/a/b/spaced.html",
        "http://example.com/a/b/with%20space/%C3%BC.html",
    };
    expect_list(&b, n, want, (int)(sizeof want / sizeof want[0]));
    mt_buf_free(&b);
    mt_html_doc_free(doc);
}

LEAK_TEST(html, resolve_follows_rfc3986_examples)
{
    /* RFC 3986 section 5.4: normal and abnormal examples. */
    static const char *const cases[][2] = {
        {"g:h", "g:h"},           {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"}, {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},     {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"}, {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"}, {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"}, {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"}, {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"}, {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},  {"..", "http://a/b/"},
        {"../", "http://a/b/"},   {"../g", "http://a/b/g"},
        {"../..", "http://a/"},   {"../../", "http://a/"},
        {"../../g", "http://a/g"}, {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"}, {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},  {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"}, {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"}, {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"}, {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"}, {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"}, {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g?y/../x", "http://a/b/c/g?y/../x"}, {"g#s/./x", "http://a/b/c/g#s/./x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"}, {"http:g", "http:g"},
        /* a path without a host never starts with "//" */
        {"g:/..//h", "g:/.//h"},
    };
    mt_buf b = MT_BUF_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(mt_url_resolve(&b, "http://a/b/c/d;p?q", cases[i][0]), 0, "%s", cases[i][0]);
        cr_expect_str_eq(b.data, cases[i][1], "ref '%s'", cases[i][0]);
        cr_expect_eq(b.len, strlen(cases[i][1]));
    }
    /* A relative reference needs an absolute base. */
    cr_expect_eq(mt_url_resolve(&b, NULL, "g"), -EINVAL);
    cr_expect_eq(b.len, 0u);
    cr_expect_eq(mt_url_resolve(&b, "/just/a/path", "g"), -EINVAL);
    cr_expect_eq(mt_url_resolve(&b, NULL, "https://x/"), 0);
    cr_expect_str_eq(b.data, "https://x/");
    cr_expect_eq(mt_url_resolve(NULL, "http://a/", "g"), -EINVAL);
    cr_expect_eq(mt_url_resolve(&b, "http://a/", NULL), -EINVAL);
    mt_buf_free(&b);
}

LEAK_TEST(html, canonical_form)
{
    static const char *const cases[][2] = {
        {"HTTP://Example.COM/", "http://example.com/"},
        {"http://example.com", "http://example.com/"},
        {"http://example.com:80/a", "http://example.com/a"},
        {"https://example.com:443/a", "https://example.com/a"},
        {"http://example.com:443/a", "http://example.com:443/a"},
        {"https://example.com:80/a", "https://example.com:80/a"},
        {"http://example.com:/a", "http://example.com/a"},
        {"http://example.com:0080/a", "http://example.com/a"},
        {"http://example.com:08080/a", "http://example.com:8080/a"},
        {"http://example.com/a#frag", "http://example.com/a"},
        {"http://example.com/a?q=1#frag", "http://example.com/a?q=1"},
        {"http://example.com/%7euser", "http://example.com/~user"},
        {"http://example.com/%7Euser/%41%2d%5F", "http://example.com/~user/A-_"},
        {"http://example.com/a%2fb", "http://example.com/a%2Fb"},
        {"http://example.com/a%2Fb%3f%3D", "http://example.com/a%2Fb%3F%3D"},
        {"http://example.com/%e4%b8%ad", "http://example.com/%E4%B8%AD"},
        {"http://example.com/a/./b/../c", "http://example.com/a/c"},
        {"http://example.com/../../a", "http://example.com/a"},
        {"http://example.com/a/b/..", "http://example.com/a/"},
        {"http://example.com/a/%2E%2E/b", "http://example.com/b"},
        {"http://example.com/A/B?Q=%aa&x=%7e", "http://example.com/A/B?Q=%AA&x=~"},
        {"http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"},
        {"http://[2001:db8::1]:8080", "http://[2001:db8::1]:8080/"},
        {"https://User:PW@Host.Example:443/p", "https://User:PW@host.example/p"},
        {"http://ex%41mple.com/", "http://example.com/"},
        {"http://example.com/a b/ü", "http://example.com/a%20b/%C3%BC"},
        {"http://example.com/?", "http://example.com/?"},
        {"HTTPS://EXAMPLE.COM:443", "https://example.com/"},
        {"ftp://files.example:21/pub", "ftp://files.example/pub"},
        {"mailto:Someone@Example.com", "mailto:Someone@Example.com"},
        {"http://example.com/100%", "http://example.com/100%25"},
        {"http://example.com/%%41", "http://example.com/%25A"},
        {"http:/..//evil.example/x", "http:/.//evil.example/x"},
        {"http://Example.com:8080/", "http://example.com:8080/"},
        {"http://[fe80::1%25eth0]/", "http://[fe80::1%25eth0]/"},
    };
    mt_buf b = MT_BUF_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(mt_url_canonical(&b, cases[i][0]), 0, "%s", cases[i][0]);
        cr_expect_str_eq(b.data, cases[i][1], "url '%s'", cases[i][0]);
        /* Canonical is a fixed point. */
        mt_buf again = MT_BUF_INIT;
        cr_expect_eq(mt_url_canonical(&again, cases[i][1]), 0);
        cr_expect_str_eq(again.data, cases[i][1]);
        mt_buf_free(&again);
    }
    static const char *const bad[] = {
        "/relative/path", "example.com/x", "http://example.com:80a/", "http://example.com:65536/",
        "http://[::1/x", "http://[::1]x/", "http:///path", "https://:443/", "",
        "http://a b/", "http://a[b/", "http://host:80:80/", "http://x%zz/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(mt_url_canonical(&b, bad[i]), -EINVAL, "'%s'", bad[i]);
        cr_expect_eq(b.len, 0u);
    }
    cr_expect_eq(mt_url_canonical(&b, NULL), -EINVAL);
    cr_expect_eq(mt_url_canonical(NULL, "http://x/"), -EINVAL);
    mt_buf_free(&b);

    cr_expect(mt_url_is_http("http://x/"));
    cr_expect(mt_url_is_http("HTTPS://x"));
    cr_expect(!mt_url_is_http("http:///x"));
    cr_expect(!mt_url_is_http("ftp://x/"));
    cr_expect(!mt_url_is_http("/x"));
    cr_expect(!mt_url_is_http(NULL));
}

/* Random URL-like strings (the same seed every run): a canonical form is
 * its own canonical form, a resolved URL resolves to itself, and both are
 * valid URL text. */
LEAK_TEST(html, random_urls_keep_their_promises, .timeout = 60)
{
    static const char *const piece[] = {
        "http:", "HTTPS:", "//", "/", "..", ".", "?", "#", "@", ":", "[", "]", "::1", "%",
        "%2e", "%2F", "%7e", "%zz", "a", "B", " ", "\t", "80", "443", "0", "65536",
        "\xc3\xa9", "\x01", "\\", "mailto:", "x.y", "-", "~",
    };
    unsigned long seed = 4242;
#define NEXT_RANDOM() (seed = seed * 6364136223846793005ul + 1442695040888963407ul, seed >> 33)
    mt_buf url = MT_BUF_INIT, c1 = MT_BUF_INIT, c2 = MT_BUF_INIT;
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        mt_buf_reset(&url);
        for (unsigned long n = NEXT_RANDOM() % 12; n > 0; n--) {
            const char *t = piece[NEXT_RANDOM() % (sizeof piece / sizeof piece[0])];
            mt_buf_append(&url, t, strlen(t));
        }
        mt_buf_append(&url, "", 1);
        if (mt_url_canonical(&c1, url.data) == 0 &&
            (mt_url_canonical(&c2, c1.data) != 0 || strcmp(c1.data, c2.data) != 0) && bad++ < 3)
            cr_log_error("canonical '%s' -> '%s' -> '%s'", url.data, c1.data, c2.data);
        if (mt_url_resolve(&c1, "http://h/a/b?q", url.data) == 0) {
            for (size_t k = 0; k < c1.len; k++)
                if ((unsigned char)c1.data[k] <= ' ' || (unsigned char)c1.data[k] >= 0x7f) {
                    if (bad++ < 3)
                        cr_log_error("resolved '%s' holds byte %#x", url.data, c1.data[k]);
                    break;
                }
            if ((mt_url_resolve(&c2, "http://h/a/b?q", c1.data) != 0 ||
                 strcmp(c1.data, c2.data) != 0) &&
                bad++ < 3)
                cr_log_error("resolve '%s' -> '%s' -> '%s'", url.data, c1.data, c2.data);
        }
    }
#undef NEXT_RANDOM
    cr_expect_eq(bad, 0);
    mt_buf_free(&url);
    mt_buf_free(&c1);
    mt_buf_free(&c2);
}

LEAK_TEST(html, malformed_html_gives_results)
{
    /* Unclosed tags, stray end tags, attributes without quotes or values,
     * garbage bytes, NUL bytes and invalid UTF-8. */
    static const char page[] =
        "\xff\xfe\x01\x02<<<>>><html<body><div><p>one<p>two<b><i>bold</b></i>"
        "</nonsense></div></div></div><a href=x1.html>first<a href='x2.html' class=c "
        "onclick>sec\0ond</a><img src=\"broken.png\x00\xc3\x28\xe2\x82\"><a href=x3.html\n"
        "<table><tr><td>cell<td>cell2</table></ul></li><!-- unclosed comment <a href=x4.html>";
    mt_html_doc *doc = NULL;
    cr_assert_eq(mt_html_parse(&doc, page, sizeof page - 1, "http://m/", NULL), 0);
    mt_buf b = MT_BUF_INIT;
    int n = mt_html_links_list(doc, "//a/@href", &b);
    cr_expect_geq(n, 2);
    cr_expect_str_eq(b.data, "http://m/x1.html");
    cr_expect_str_eq(b.data + strlen(b.data) + 1, "http://m/x2.html");
    mt_buf_reset(&b);
    n = mt_html_xpath_list(doc, "//p[starts-with(., 'one') or starts-with(., 'two')]", &b);
    cr_expect_eq(n, 2);
    cr_expect_str_eq(b.data, "one");
    mt_buf_free(&b);
    mt_html_doc_free(doc);

    /* Only garbage, and only spaces, still make a document. */
    cr_expect_eq(mt_html_parse(&doc, "\x80\x81\xfe\xff\x00\x01", 6, NULL, NULL), 0);
    mt_html_doc_free(doc);
    cr_expect_eq(mt_html_parse(&doc, "   ", 3, NULL, NULL), 0);
    mt_html_doc_free(doc);
    /* Empty input is no document at all. */
    cr_expect_eq(mt_html_parse(&doc, "", 0, NULL, NULL), -EPROTO);
    cr_expect_null(doc);
}

LEAK_TEST(html, deep_nesting_is_cut_with_a_warning, .timeout = 60)
{
    mt_buf page = MT_BUF_INIT;
    cr_assert_eq(mt_buf_printf(&page, "<html><body><a href='/before'>b</a>"), 0);
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(mt_buf_printf(&page, "<div>"), 0);
    cr_assert_eq(mt_buf_printf(&page, "<a href='/inside'>deep</a>"), 0);
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(mt_buf_printf(&page, "</div>"), 0);
    cr_assert_eq(mt_buf_printf(&page, "</body></html>"), 0);

    mt_html_doc *doc = NULL;
    cr_assert_eq(mt_html_parse(&doc, page.data, page.len, "http://d/", NULL), 0);
    cr_assert_not_null(mt_html_doc_warning(doc));
    cr_expect(strstr(mt_html_doc_warning(doc), "nested") != NULL, "%s",
              mt_html_doc_warning(doc));
    mt_buf b = MT_BUF_INIT;
    int n = mt_html_links_list(doc, "//a/@href", &b);
    cr_expect_geq(n, 1);
    cr_expect_str_eq(b.data, "http://d/before");
    mt_buf_reset(&b);
    n = mt_html_xpath_list(doc, "count(//div)", &b);
    cr_expect_eq(n, 1);
    cr_expect_lt(atoi(b.data), 10000);
    cr_expect_gt(atoi(b.data), 100);
    /* String-values of every nested element: each is bounded. */
    mt_buf_reset(&b);
    cr_expect_gt(mt_html_xpath_list(doc, "//div", &b), 100);
    mt_buf_free(&b);
    mt_html_doc_free(doc);
    mt_buf_free(&page);
}

LEAK_TEST(html, a_tag_with_many_attributes_is_cut_not_quadratic, .timeout = 60)
{
    /* 1 MiB of attributes in one tag: libxml2 alone compares each with
     * every earlier one (minutes); the first 100 are kept. */
    mt_buf page = MT_BUF_INIT;
    cr_assert_eq(mt_buf_printf(&page, "<p><a href='/kept'"), 0);
    for (int i = 0; page.len < (1u << 20); i++)
        cr_assert_eq(mt_buf_printf(&page, " x%d=%d", i, i), 0);
    cr_assert_eq(mt_buf_printf(&page, ">link</a><a href='/after'>2</a></p>"), 0);
    double t0 = mt_monotonic();
    mt_html_doc *doc = NULL;
    cr_assert_eq(mt_html_parse(&doc, page.data, page.len, "http://a/",
                               &(mt_html_opts){.max_bytes = 2u << 20}),
                 0);
    double dt = mt_monotonic() - t0;
    cr_expect_lt(dt, 10.0, "parse took %.1f s", dt);
    cr_assert_not_null(mt_html_doc_warning(doc));
    cr_expect(strstr(mt_html_doc_warning(doc), "attributes") != NULL, "%s",
              mt_html_doc_warning(doc));
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_html_xpath_list(doc, "count(//a[1]/@*)", &b), 1);
    cr_expect_str_eq(b.data, "100");
    mt_buf_reset(&b);
    int n = mt_html_links_list(doc, "//a/@href", &b);
    const char *want[] = {"http://a/kept", "http://a/after"};
    expect_list(&b, n, want, 2);
    mt_buf_free(&b);
    mt_html_doc_free(doc);
    mt_buf_free(&page);
}

LEAK_TEST(html, raw_text_and_comments_are_not_taken_for_tags)
{
    /* What looks like a tag with many attributes inside a script, a style
     * or a comment is text, and stays whole. */
    mt_buf fake = MT_BUF_INIT, page = MT_BUF_INIT;
    mt_buf_printf(&fake, "<a");
    for (int i = 0; i < 300; i++)
        mt_buf_printf(&fake, " y%d", i);
    mt_buf_printf(&page,
                  "<html><head><script type='text/javascript'>var s = '%s'; if (a</b) x();"
                  "</SCRIPT ><style>p::after { content: '%s </p>' }</style></head>"
                  "<body><!-- %s --><!----><p title='a>b'>text</p></body></html>",
                  fake.data, fake.data, fake.data);
    mt_html_doc *doc = NULL;
    cr_assert_eq(mt_html_parse(&doc, page.data, page.len, NULL, NULL), 0);
    cr_expect_null(mt_html_doc_warning(doc));
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_html_xpath_list(doc, "//script", &b), 1);
    cr_expect(strstr(b.data, fake.data) != NULL && strstr(b.data, "if (a</b) x();") != NULL);
    mt_buf_reset(&b);
    cr_expect_eq(mt_html_xpath_list(doc, "//style", &b), 1);
    cr_expect(strstr(b.data, fake.data) != NULL && strstr(b.data, "</p>") != NULL);
    mt_buf_reset(&b);
    cr_expect_eq(mt_html_xpath_list(doc, "//comment()", &b), 2);
    cr_expect(strstr(b.data, fake.data) != NULL);
    mt_buf_reset(&b);
    cr_expect_eq(mt_html_xpath_list(doc, "//p/@title | //p", &b), 2);
    cr_expect_str_eq(b.data, "text");
    cr_expect_str_eq(b.data + 5, "a>b");
    mt_buf_free(&b);
    mt_html_doc_free(doc);
    /* The same page pushed a byte at a time reads the same. */
    expect_push_equals_parse(page.data, page.len, 1);
    mt_buf_free(&fake);
    mt_buf_free(&page);
}

LEAK_TEST(html, nodes_over_the_cap_are_refused)
{
    mt_buf page = MT_BUF_INIT;
    for (int i = 0; i < 600; i++)
        mt_buf_printf(&page, "<p a b>%d</p>", i); /* 3 nodes each */
    mt_html_opts opts = {.max_nodes = 1000};
    mt_html_doc *doc = (mt_html_doc *)1;
    cr_expect_eq(mt_html_parse(&doc, page.data, page.len, NULL, &opts), -EMSGSIZE);
    cr_expect_null(doc);
    mt_html_parser *p;
    cr_assert_eq(mt_html_parser_new(&p, NULL, &opts), 0);
    int err = 0;
    for (size_t i = 0; i < page.len && !err; i += 100)
        err = mt_html_parser_feed(p, page.data + i, page.len - i < 100 ? page.len - i : 100);
    cr_expect_eq(err, -EMSGSIZE);
    cr_expect_eq(mt_html_parser_feed(p, "<p>", 3), -EMSGSIZE);
    cr_expect_eq(mt_html_parser_finish(p, &doc), -EMSGSIZE);
    mt_html_parser_free(p);
    /* Under it, fine. */
    opts.max_nodes = 2000;
    cr_expect_eq(mt_html_parse(&doc, page.data, page.len, NULL, &opts), 0);
    mt_html_doc_free(doc);
    mt_buf_free(&page);
}

static long maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

LEAK_TEST(html, input_over_the_cap_is_refused_in_bounded_memory, .timeout = 120)
{
    const size_t total = 50u << 20, cap = 1u << 20;
    mt_html_opts opts = {.max_bytes = cap};
    long rss0 = maxrss_kib();

    /* One shot: refused before a byte is read (the 50 MiB are never
     * touched, so they cost no memory either). */
    /* (mmap, not malloc: under meson's MALLOC_PERTURB_, malloc writes
     * every page) */
    char *big = mmap(NULL, total, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(big, MAP_FAILED);
    mt_html_doc *doc = (mt_html_doc *)1;
    cr_expect_eq(mt_html_parse(&doc, big, total, NULL, &opts), -EMSGSIZE);
    cr_expect_null(doc);
    munmap(big, total);

    /* Pushed in 64 KiB chunks: the first chunk past the cap is refused, and
     * so is everything after it. */
    char chunk[65536];
    for (size_t i = 0; i < sizeof chunk; i += 16)
        memcpy(chunk + i, "<p><a href=x>y</", 16);
    mt_html_parser *p;
    cr_assert_eq(mt_html_parser_new(&p, "http://c/", &opts), 0);
    size_t fed = 0, accepted = 0;
    int first_err = 0;
    while (fed < total) {
        int err = mt_html_parser_feed(p, chunk, sizeof chunk);
        if (err == 0)
            accepted += sizeof chunk;
        else if (!first_err)
            first_err = err;
        else
            cr_expect_eq(err, -EMSGSIZE);
        fed += sizeof chunk;
    }
    cr_expect_eq(first_err, -EMSGSIZE);
    cr_expect_eq(accepted, cap);
    cr_expect_eq(mt_html_parser_finish(p, &doc), -EMSGSIZE);
    cr_expect_null(doc);
    mt_html_parser_free(p);

    long grew = maxrss_kib() - rss0;
    cr_expect_lt(grew, 48 * 1024, "peak memory grew by %ld KiB", grew);

    /* At the cap exactly is fine. */
    cr_assert_eq(mt_html_parser_new(&p, NULL, &(mt_html_opts){.max_bytes = 32}), 0);
    cr_expect_eq(mt_html_parser_feed(p, "<p>0123456789012345678901234567", 32), 0);
    cr_expect_eq(mt_html_parser_feed(p, "8", 1), -EMSGSIZE);
    mt_html_parser_free(p);
}

LEAK_TEST(html, bad_xpath_is_einval_with_a_message)
{
    mt_html_doc *doc = parse_ok(list_page, PAGE_URL);
    mt_buf b = MT_BUF_INIT;
    static const char *const bad[] = {
        "//a[",   "//a/@",      "nosuch(1)",  "$var",    "//a[@href='x",
        "",       "//li)",      "count()",    "1 +",     "//*[",
        "///",    "//a[1]]",    "@@x",        "x::y",    "//a/@href=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(mt_html_xpath_list(doc, bad[i], &b), -EINVAL, "'%s'", bad[i]);
        cr_expect(strncmp(mt_html_error(doc), "xpath: ", 7) == 0, "'%s': %s", bad[i],
                  mt_html_error(doc));
        cr_expect_eq(b.len, 0u);
    }
    cr_expect(strstr(mt_html_error(doc), "//a/@href=") != NULL);

    /* Too long, and nested too deep: refused, no crash. */
    mt_buf expr = MT_BUF_INIT;
    for (int i = 0; i < 5000; i++)
        mt_buf_append(&expr, "(", 1);
    mt_buf_append(&expr, "1", 2);
    cr_expect_eq(mt_html_xpath_list(doc, expr.data, &b), -EINVAL);
    cr_expect(strstr(mt_html_error(doc), "longer") != NULL, "%s", mt_html_error(doc));
    expr.data[4000] = '\0';
    cr_expect_eq(mt_html_xpath_list(doc, expr.data, &b), -EINVAL);
    mt_buf_free(&expr);

    /* After an error, a good query works and clears the message. */
    cr_expect_eq(mt_html_xpath_list(doc, SEED_XPATH, &b), 3);
    cr_expect_str_eq(mt_html_error(doc), "");
    cr_expect_eq(mt_html_xpath(doc, NULL, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_html_xpath_list(doc, "//a", NULL), -EINVAL);
    mt_buf_free(&b);
    mt_html_doc_free(doc);
}

static int count_calls(void *ctx, const char *s, size_t len)
{
    (void)s;
    (void)len;
    ++*(int *)ctx;
    return 0;
}

LEAK_TEST(html, costly_queries_hit_their_limits, .timeout = 60)
{
    mt_buf page = MT_BUF_INIT;
    for (int i = 0; i < 2000; i++)
        mt_buf_printf(&page, "<div><span>%d</span></div>", i);
    mt_html_doc *doc = NULL;
    cr_assert_eq(mt_html_parse(&doc, page.data, page.len, NULL,
                               &(mt_html_opts){.max_results = 100, .max_xpath_ops = 200000}),
                 0);
    int calls = 0;
    /* More results than max_results: fn never called. */
    cr_expect_eq(mt_html_xpath(doc, "//span", count_calls, &calls), -EMSGSIZE);
    cr_expect_eq(calls, 0);
    cr_expect(strstr(mt_html_error(doc), "max_results") != NULL, "%s", mt_html_error(doc));
    cr_expect_eq(mt_html_xpath(doc, "(//span)[position() <= 100]", count_calls, &calls), 0);
    cr_expect_eq(calls, 100);
    /* A quadratic expression stops at the operation limit. */
    calls = 0;
    cr_expect_eq(mt_html_xpath(doc, "count(//*[. = //span])", count_calls, &calls), -EMSGSIZE);
    cr_expect_eq(calls, 0);
    cr_expect(strstr(mt_html_error(doc), "max_xpath_ops") != NULL, "%s", mt_html_error(doc));
    mt_html_doc_free(doc);
    mt_buf_free(&page);
}

static int stop_at_second(void *ctx, const char *s, size_t len)
{
    (void)s;
    (void)len;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

LEAK_TEST(html, callback_can_stop_a_query)
{
    mt_html_doc *doc = parse_ok(list_page, PAGE_URL);
    int calls = 0;
    cr_expect_eq(mt_html_xpath(doc, SEED_XPATH, stop_at_second, &calls), 42);
    cr_expect_eq(calls, 2);
    calls = 0;
    cr_expect_eq(mt_html_links(doc, SEED_XPATH, stop_at_second, &calls), 42);
    cr_expect_eq(calls, 2);
    mt_html_doc_free(doc);
}

LEAK_TEST(html, push_parser_in_tiny_chunks_equals_one_shot, .timeout = 60)
{
    expect_push_equals_parse(list_page, sizeof list_page - 1, 1);
    expect_push_equals_parse(list_page, sizeof list_page - 1, 7);
    static const char messy[] =
        "<html><head><base href=/b/><style>p { color: red } /* </p> */</style>"
        "<script>if (x<y) document.write(\"</div>\");</script></head>"
        "<body><!-- a comment with <a href=no> inside --><a href=one>1</a>"
        "<a href='two?a=1&amp;b=&#50;'>2</a><p>text &eacute; &unknown; & more<a href=three"
        " title=\"multi\nline\">3</a><![CDATA[ x ]]><img src=i.png alt=a>b</body></html>";
    expect_push_equals_parse(messy, sizeof messy - 1, 1);
    expect_push_equals_parse(messy, sizeof messy - 1, 3);

    /* Garbage on which libxml2's push parser reads differently when a chunk
     * boundary falls inside raw text, each found by comparing the two. */
#define CASE(s) {s, sizeof s - 1}
    static const struct {
        const char *s;
        size_t n;
    } odd[] = {
        CASE("<!<script></></>"),          /* "<!" then a real <script> */
        CASE("<?<style></><><"),           /* "<?" that is no PI */
        CASE("<style<></><>/"),            /* a name ends at a byte it cannot hold */
        CASE("<script!></><>/"),           /* and the rest of the tag is bogus */
        CASE("<script></SCRIPT<><style></SCRIPT>\0<>"), /* "</SCRIPT" ends raw text */
        CASE("<script></scripts><b></script><i>"),      /* "</scripts>" does not */
        CASE("<a ='><!-->'><>"),           /* a quote not after a name is no quote */
        CASE("<T\0<style></>\0<>"),       /* NUL bytes */
        CASE("<!--><e>"),                  /* "<!-->" opens a comment only */
        CASE("<h\">\"<!<script><!--</script><!-->a"),
        CASE("<script></SCRIPT&><!--></script><>"),
    };
#undef CASE
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        expect_push_equals_parse(odd[i].s, odd[i].n, 1);
}

/* Pages made of random pieces of markup, pushed in random chunks of 1 to
 * 8 bytes: every one reads as it does whole (the same seed every run). */
LEAK_TEST(html, tag_soup_pushed_in_random_chunks_equals_one_shot, .timeout = 120)
{
    static const char *const piece[] = {
        "<", ">", "</", "/>", "<a href=", "<a", " href='x", "'", "\"", "=", " ", "\n",
        "<script>", "</script>", "<style>", "</style>", "<!--", "-->", "<!", "<?", "?>",
        "&amp;", "&", ";", "<p>", "</p>", "<div class=c>", "</div>", "<img src=i data-original=",
        "x", "y z", "\xc3\xa9", "<base href=/b/>", "<li class=\"list-group-item\">",
        "</SCRIPT", "<![CDATA[", "]]>", "<table><tr><td>", "a1 a2 a3", "<title>", "</title>",
        "<br/>", "-", "--", "<meta charset=latin1>",
    };
    unsigned long seed = 12345;
#define NEXT_RANDOM() (seed = seed * 6364136223846793005ul + 1442695040888963407ul, seed >> 33)
    int differ = 0;
    for (int page = 0; page < 3000; page++) {
        mt_buf html = MT_BUF_INIT, a = MT_BUF_INIT, b = MT_BUF_INIT;
        for (unsigned long n = NEXT_RANDOM() % 120; n > 0; n--) {
            const char *t = piece[NEXT_RANDOM() % (sizeof piece / sizeof piece[0])];
            mt_buf_append(&html, t, strlen(t));
        }
        mt_html_doc *one = NULL, *pushed = NULL;
        int e1 = mt_html_parse(&one, html.data, html.len, "http://h/p/", NULL);
        mt_html_parser *p;
        cr_assert_eq(mt_html_parser_new(&p, "http://h/p/", NULL), 0);
        int e2 = 0;
        for (size_t i = 0; i < html.len && !e2;) {
            size_t k = 1 + NEXT_RANDOM() % 8;
            k = k < html.len - i ? k : html.len - i;
            e2 = mt_html_parser_feed(p, html.data + i, k);
            i += k;
        }
        if (!e2)
            e2 = mt_html_parser_finish(p, &pushed);
        mt_html_parser_free(p);
        if (e1 == 0 && e2 == 0) {
            answers(one, &a);
            answers(pushed, &b);
        }
        if (e1 != e2 || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) {
            if (differ++ < 3)
                cr_log_error("page %d differs pushed: %.*s", page, (int)html.len,
                             html.data ? html.data : "");
        }
        mt_html_doc_free(one);
        mt_html_doc_free(pushed);
        mt_buf_free(&html);
        mt_buf_free(&a);
        mt_buf_free(&b);
    }
#undef NEXT_RANDOM
    cr_expect_eq(differ, 0, "%d of 3000 pages read differently pushed", differ);
}

LEAK_TEST(html, charsets)
{
    /* A charset from the server (the encoding option) and from <meta>. */
    static const char latin1[] = "<p>caf\xe9 \xa9</p>";
    mt_html_doc *doc = NULL;
    cr_assert_eq(mt_html_parse(&doc, latin1, sizeof latin1 - 1, NULL,
                               &(mt_html_opts){.encoding = "ISO-8859-1"}),
                 0);
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_html_xpath_list(doc, "//p", &b), 1);
    cr_expect_str_eq(b.data, "café ©");
    mt_html_doc_free(doc);

    static const char meta[] = "<html><head><meta http-equiv='Content-Type' "
                               "content='text/html; charset=windows-1252'></head>"
                               "<body><p>\x93quoted\x94</p></body></html>";
    cr_assert_eq(mt_html_parse(&doc, meta, sizeof meta - 1, NULL, NULL), 0);
    mt_buf_reset(&b);
    cr_expect_eq(mt_html_xpath_list(doc, "//p", &b), 1);
    cr_expect_str_eq(b.data, "“quoted”");
    mt_html_doc_free(doc);
    expect_push_equals_parse(meta, sizeof meta - 1, 1);

    /* Invalid UTF-8 where UTF-8 is declared: still a document. */
    static const char bad[] = "<meta charset=utf-8><p>ok \xc3\x28 \xff</p><a href=/x>x</a>";
    cr_assert_eq(mt_html_parse(&doc, bad, sizeof bad - 1, "http://u/", NULL), 0);
    mt_buf_reset(&b);
    cr_expect_eq(mt_html_links_list(doc, "//a/@href", &b), 1);
    cr_expect_str_eq(b.data, "http://u/x");
    mt_html_doc_free(doc);
    /* The server's charset wins over the page's <meta>. */
    static const char both[] = "<meta charset=iso-8859-7><p>\xe0 la carte</p>";
    cr_assert_eq(mt_html_parse(&doc, both, sizeof both - 1, NULL,
                               &(mt_html_opts){.encoding = "windows-1252"}),
                 0);
    mt_buf_reset(&b);
    cr_expect_eq(mt_html_xpath_list(doc, "//p", &b), 1);
    cr_expect_str_eq(b.data, "à la carte");
    mt_html_doc_free(doc);
    /* Also when the <meta> is read before the text arrives. */
    mt_html_parser *p;
    cr_assert_eq(mt_html_parser_new(&p, NULL, &(mt_html_opts){.encoding = "windows-1252"}), 0);
    for (size_t i = 0; i < sizeof both - 1; i++)
        cr_assert_eq(mt_html_parser_feed(p, both + i, 1), 0);
    cr_assert_eq(mt_html_parser_finish(p, &doc), 0);
    mt_html_parser_free(p);
    mt_buf_reset(&b);
    cr_expect_eq(mt_html_xpath_list(doc, "//p", &b), 1);
    cr_expect_str_eq(b.data, "à la carte");
    mt_html_doc_free(doc);
    /* An unknown charset name is ignored. */
    cr_assert_eq(mt_html_parse(&doc, "<p>x</p>", 8, NULL, &(mt_html_opts){.encoding = "no-such"}),
                 0);
    mt_html_doc_free(doc);
    mt_buf_free(&b);
}

LEAK_TEST(html, nothing_is_ever_printed)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    cr_assert_not_null(tmp);
    dup2(fileno(tmp), 2);

    static const char page[] = "<meta charset=shift_jis><p>\x82\xa0\xff\xff\xff</p><a href=x>"
                               "\0<<<</div></span><b><i>x</b>";
    mt_html_doc *doc = NULL;
    int perr = mt_html_parse(&doc, page, sizeof page - 1, NULL, NULL);
    mt_buf b = MT_BUF_INIT;
    int xerr = doc ? mt_html_xpath_list(doc, "//a[", &b) : 0;
    int xerr2 = doc ? mt_html_xpath_list(doc, "$undefined", &b) : 0;
    mt_html_doc_free(doc);
    mt_buf_free(&b);
    fflush(stderr);

    dup2(saved, 2);
    close(saved);
    long size = ftell(tmp) >= 0 ? (fseek(tmp, 0, SEEK_END), ftell(tmp)) : -1;
    fclose(tmp);
    cr_expect_eq(perr, 0);
    cr_expect_eq(xerr, -EINVAL);
    cr_expect_eq(xerr2, -EINVAL);
    cr_expect_eq(size, 0, "%ld bytes printed on stderr", size);
}

/* A page as deep as libxml2 allows and more, then queries nested as deep
 * as the expression length allows: what a coroutine's stack must bear. */
static void *deep_work(void *arg)
{
    (void)arg;
    long ok = 1;
    mt_buf page = MT_BUF_INIT, expr = MT_BUF_INIT, b = MT_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        mt_buf_printf(&page, "<div class=c%d><a href=/x%d>", i, i);
    mt_html_doc *doc = NULL;
    if (mt_html_parse(&doc, page.data, page.len, "http://s/", NULL) != 0)
        return (void *)0;
    static const char *const unit[][3] = {
        {"(", "1", ")"}, {"1+", "1", ""},   {"not(", "1", ")"}, {"//*[", "1", "]"},
        {"-", "1", ""},  {"1 and ", "1", ""}, {"concat(", "'a','b'", ")"}, {"//a|", "//a", ""},
    };
    for (size_t u = 0; u < sizeof unit / sizeof unit[0]; u++) {
        mt_buf_reset(&expr);
        size_t k = 0;
        while (expr.len + strlen(unit[u][0]) + strlen(unit[u][1]) + (k + 1) * strlen(unit[u][2]) <
               MT_HTML_MAX_XPATH_LEN) {
            mt_buf_append(&expr, unit[u][0], strlen(unit[u][0]));
            k++;
        }
        mt_buf_append(&expr, unit[u][1], strlen(unit[u][1]));
        for (size_t i = 0; i < k; i++)
            mt_buf_append(&expr, unit[u][2], strlen(unit[u][2]));
        mt_buf_append(&expr, "", 1);
        mt_buf_reset(&b);
        int err = mt_html_xpath_list(doc, expr.data, &b);
        if (err != -EINVAL && err < 0) {
            fprintf(stderr, "unit %zu: %d\n", u, err);
            ok = 0;
        }
    }
    mt_buf_reset(&b);
    int n = mt_html_links_list(doc, "//a/@href", &b);
    if (n < 100) {
        fprintf(stderr, "%d links\n", n);
        ok = 0;
    }
    mt_html_doc_free(doc);
    mt_buf_free(&page);
    mt_buf_free(&expr);
    mt_buf_free(&b);
    return (void *)ok;
}

LEAK_TEST(html, everything_fits_a_64_kib_stack, .timeout = 60)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
#if defined(__SANITIZE_ADDRESS__)
    pthread_attr_setstacksize(&attr, 256 * 1024); /* its frames are larger */
#else
    pthread_attr_setstacksize(&attr, 64 * 1024);
#endif
    pthread_t t;
    cr_assert_eq(pthread_create(&t, &attr, deep_work, NULL), 0);
    void *ok;
    pthread_join(t, &ok);
    pthread_attr_destroy(&attr);
    cr_expect_eq((long)ok, 1);
}

static void count_error(void *ctx, xmlErrorPtr e)
{
    (void)e;
    ++*(int *)ctx;
}

LEAK_TEST(html, the_programs_own_libxml2_handlers_are_kept)
{
    /* A program that uses libxml2 itself keeps its handlers, and gets no
     * errors of ours through them. */
    int count = 0;
    xmlSetStructuredErrorFunc(&count, count_error);
    mt_html_doc *doc = NULL;
    cr_assert_eq(mt_html_parse(&doc, "<p><b>x</p></i>\xff", 17, NULL, NULL), 0);
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_html_xpath_list(doc, "//p[", &b), -EINVAL);
    mt_html_doc_free(doc);
    cr_expect_eq(count, 0);
    cr_expect(xmlStructuredError == count_error);
    cr_expect(xmlStructuredErrorContext == &count);
    xmlSetStructuredErrorFunc(NULL, NULL);
    mt_buf_free(&b);
}

static void *parse_in_thread(void *arg)
{
    (void)arg;
    long ok = 1;
    for (int i = 0; i < 50; i++) {
        mt_html_doc *doc = NULL;
        mt_buf b = MT_BUF_INIT;
        if (mt_html_parse(&doc, list_page, sizeof list_page - 1, PAGE_URL, NULL) != 0 ||
            mt_html_links_list(doc, SEED_XPATH, &b) != 3 || mt_html_xpath_list(doc, "//a[", &b) != -EINVAL ||
            strcmp(b.data, "http://img.example.com/large/001.jpg") != 0)
            ok = 0;
        mt_buf_free(&b);
        mt_html_doc_free(doc);
    }
    return (void *)ok;
}

LEAK_TEST(html, documents_in_threads_at_once, .timeout = 60)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, parse_in_thread, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        cr_expect_eq((long)ok, 1, "thread %d", i);
    }
}

LEAK_TEST(html, bad_arguments)
{
    mt_html_doc *doc = NULL;
    mt_html_parser *p = NULL;
    cr_expect_eq(mt_html_parse(NULL, "x", 1, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_html_parse(&doc, NULL, 1, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_html_parser_new(NULL, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_html_parser_feed(NULL, "x", 1), -EINVAL);
    cr_assert_eq(mt_html_parser_new(&p, NULL, NULL), 0);
    cr_expect_eq(mt_html_parser_feed(p, NULL, 1), -EINVAL);
    cr_expect_eq(mt_html_parser_finish(p, NULL), -EINVAL);
    /* No bytes is fine. */
    cr_expect_eq(mt_html_parser_feed(p, NULL, 0), 0);
    /* Freed unfinished, after some input: no leak. */
    cr_expect_eq(mt_html_parser_feed(p, "<p>half", 7), 0);
    mt_html_parser_free(p);
    mt_html_parser_free(NULL);
    mt_html_doc_free(NULL);
    cr_expect_null(mt_html_doc_base(NULL));
    cr_expect_str_eq(mt_html_error(NULL), "");
}
