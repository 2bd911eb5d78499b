/*
 * test_mtget_robots.c - mtget's robots.txt (tools/mtget/robots.c): the
 * examples of RFC 9309, its matching rules (longest match, allow wins ties,
 * '*' and '$', percent-encoding), the line forms a server may send, and
 * hostile files: huge, with NULs, with very long lines, with patterns made
 * to make a matcher backtrack.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "mtget.h"

static mtget_robots *parse_for(const char *text, const char *agent)
{
    mtget_robots *r = NULL;
    cr_assert_eq(mtget_robots_new(&r, text, strlen(text), agent), 0);
    return r;
}

#define ALLOWED(r, path) cr_expect(mtget_robots_allowed(r, path), "%s should be allowed", path)
#define DENIED(r, path) cr_expect(!mtget_robots_allowed(r, path), "%s should be disallowed", path)

/* RFC 9309, 5.1 */
static const char rfc_example[] = "User-Agent: *\n"
                                  "Disallow: *.gif$\n"
                                  "Disallow: /example/\n"
                                  "Allow: /publications/\n"
                                  "\n"
                                  "User-Agent: foobot\n"
                                  "Disallow:/\n"
                                  "Allow:/example/page.html\n"
                                  "Allow:/example/allowed.gif\n"
                                  "\n"
                                  "User-Agent: barbot\n"
                                  "User-Agent: bazbot\n"
                                  "Disallow: /example/page.html\n"
                                  "\n"
                                  "User-Agent: quxbot\n"
                                  "\n"
                                  "EOF\n";

LEAK_TEST(mtget_robots, rfc_example_groups)
{
    mtget_robots *r = parse_for(rfc_example, "foobot");
    DENIED(r, "/");
    DENIED(r, "/other");
    ALLOWED(r, "/example/page.html");
    ALLOWED(r, "/example/allowed.gif");
    DENIED(r, "/example/other.gif");
    mtget_robots_free(r);

    const char *shared[] = {"barbot", "BazBot"};
    for (int i = 0; i < 2; i++) {
        r = parse_for(rfc_example, shared[i]);
        DENIED(r, "/example/page.html");
        ALLOWED(r, "/example/other"); /* a named group does not take the "*" rules */
        ALLOWED(r, "/a.gif");
        mtget_robots_free(r);
    }

    r = parse_for(rfc_example, "quxbot"); /* a group without rules */
    ALLOWED(r, "/example/page.html");
    ALLOWED(r, "/a.gif");
    mtget_robots_free(r);

    r = parse_for(rfc_example, "mtget"); /* not named: the "*" group */
    DENIED(r, "/a.gif");
    DENIED(r, "/pics/a.gif");
    ALLOWED(r, "/a.gif?size=2"); /* '$' ends the path */
    ALLOWED(r, "/a.gifs");
    DENIED(r, "/example/");
    DENIED(r, "/example/x.html");
    ALLOWED(r, "/publications/x");
    ALLOWED(r, "/");
    mtget_robots_free(r);
}

/* RFC 9309, 5.2: the longest match wins */
LEAK_TEST(mtget_robots, longest_match)
{
    mtget_robots *r = parse_for("User-Agent: foobot\n"
                                "Allow: /example/page/\n"
                                "Disallow: /example/page/disallowed.gif\n",
                                "foobot");
    ALLOWED(r, "/example/page/");
    ALLOWED(r, "/example/page/other.gif");
    DENIED(r, "/example/page/disallowed.gif");
    mtget_robots_free(r);

    /* the order of the lines does not matter */
    r = parse_for("User-Agent: *\nDisallow: /a/b\nAllow: /a\n", "mtget");
    DENIED(r, "/a/b/c");
    ALLOWED(r, "/a/c");
    mtget_robots_free(r);
    r = parse_for("User-Agent: *\nAllow: /a/b\nDisallow: /a\n", "mtget");
    ALLOWED(r, "/a/b/c");
    DENIED(r, "/a/c");
    mtget_robots_free(r);
}

LEAK_TEST(mtget_robots, allow_wins_a_tie)
{
    mtget_robots *r = parse_for("user-agent: mtget\ndisallow: /page\nallow: /page\n", "mtget");
    ALLOWED(r, "/page");
    mtget_robots_free(r);
    r = parse_for("user-agent: mtget\nallow: /page\ndisallow: /page\n", "mtget");
    ALLOWED(r, "/page");
    mtget_robots_free(r);
    /* equal lengths, different patterns */
    r = parse_for("user-agent: mtget\ndisallow: /pa*\nallow: /page\n", "mtget");
    ALLOWED(r, "/page/1");
    DENIED(r, "/pat");
    mtget_robots_free(r);
}

/* RFC 9309, 2.2.2: groups naming the same agent are combined */
LEAK_TEST(mtget_robots, groups_combined_and_agent_matching)
{
    const char *text = "user-agent: ExampleBot\n"
                       "disallow: /foo\n"
                       "disallow: /bar\n"
                       "\n"
                       "user-agent: ExampleBot\n"
                       "disallow: /baz\n";
    mtget_robots *r = parse_for(text, "examplebot");
    DENIED(r, "/foo");
    DENIED(r, "/bar");
    DENIED(r, "/baz");
    ALLOWED(r, "/qux");
    mtget_robots_free(r);

    /* the product token is matched case-insensitively, a version ignored,
     * a longer token is another agent */
    r = parse_for("User-agent: MTGet/1.0\nDisallow: /mine\n"
                  "User-agent: mtgetter\nDisallow: /theirs\n"
                  "User-agent: *\nDisallow: /all\n",
                  "mtget");
    DENIED(r, "/mine");
    ALLOWED(r, "/theirs");
    ALLOWED(r, "/all");
    mtget_robots_free(r);

    /* rules before any user-agent line belong to no group */
    r = parse_for("Disallow: /x\nUser-agent: *\nDisallow: /y\n", "mtget");
    ALLOWED(r, "/x");
    DENIED(r, "/y");
    mtget_robots_free(r);

    /* several "*" groups are combined too */
    r = parse_for("User-agent: *\nDisallow: /1\nUser-agent: other\nDisallow: /2\n"
                  "User-agent: *\nDisallow: /3\n",
                  "mtget");
    DENIED(r, "/1");
    ALLOWED(r, "/2");
    DENIED(r, "/3");
    mtget_robots_free(r);
}

/* RFC 9309, 2.2.3 and 2.2.2's table */
LEAK_TEST(mtget_robots, special_characters_and_encoding)
{
    mtget_robots *r = parse_for("User-agent: *\n"
                                "Disallow: /path/file-with-a-*.html\n"
                                "Disallow: /path/foo-$\n"
                                "Disallow: /foo/bar/ツ\n"
                                "Disallow: /x/%62%61%7A\n"
                                "Disallow: /q?sort=\n"
                                "Disallow: /enc/%e3%83%84\n"
                                "Disallow: /a**b\n",
                                "mtget");
    DENIED(r, "/path/file-with-a-wildcard.html");
    DENIED(r, "/path/file-with-a-.html");
    ALLOWED(r, "/path/file-with-a-wildcard.htm");
    DENIED(r, "/path/foo-");
    ALLOWED(r, "/path/foo-bar");
    DENIED(r, "/foo/bar/%E3%83%84");
    DENIED(r, "/foo/bar/ツ");
    DENIED(r, "/x/baz");
    DENIED(r, "/x/%62az");
    DENIED(r, "/q?sort=asc");
    ALLOWED(r, "/q?page=2");
    DENIED(r, "/enc/ツ");
    DENIED(r, "/enc/%e3%83%84x");
    DENIED(r, "/aXXb");
    ALLOWED(r, "/aXX");
    mtget_robots_free(r);
}

LEAK_TEST(mtget_robots, empty_rules_robots_txt_and_crawl_delay)
{
    mtget_robots *r = parse_for("User-agent: *\nDisallow:\nCrawl-delay: 2.5\n", "mtget");
    ALLOWED(r, "/anything");
    cr_expect_eq(mtget_robots_crawl_delay(r), 2.5);
    mtget_robots_free(r);

    r = parse_for("User-agent: *\nDisallow: /\nCrawl-delay: 1\n"
                  "User-agent: mtget\nDisallow: /\nCrawl-delay: 7\nCrawl-delay: 9\n",
                  "mtget");
    DENIED(r, "/");
    DENIED(r, "/x");
    ALLOWED(r, "/robots.txt"); /* always */
    cr_expect_eq(mtget_robots_crawl_delay(r), 7);
    mtget_robots_free(r);

    r = parse_for("User-agent: *\nDisallow: /x\nCrawl-delay: soon\n", "mtget");
    cr_expect_eq(mtget_robots_crawl_delay(r), -1);
    mtget_robots_free(r);
    /* a hostile delay is cut, so a crawl cannot be stalled for ever */
    r = parse_for("User-agent: *\nCrawl-delay: 1e300\n", "mtget");
    cr_expect_eq(mtget_robots_crawl_delay(r), MTGET_ROBOTS_MAX_DELAY);
    mtget_robots_free(r);

    /* no robots.txt (a 404): everything allowed */
    cr_assert_eq(mtget_robots_new(&r, NULL, 0, "mtget"), 0);
    ALLOWED(r, "/");
    ALLOWED(r, "");
    cr_expect_eq(mtget_robots_crawl_delay(r), -1);
    mtget_robots_free(r);

    cr_expect_eq(mtget_robots_new(&r, "x", 1, NULL), -EINVAL);
    cr_expect_eq(mtget_robots_new(&r, NULL, 5, "mtget"), -EINVAL);
    mtget_robots_free(NULL);
}

/* The same file with every kind of line end, a BOM, comments, spaces and
 * lines the parser does not know gives the same answers. */
LEAK_TEST(mtget_robots, line_forms)
{
    const char *forms[] = {
        "User-agent: *\nDisallow: /x\nAllow: /x/ok\n",
        "User-agent: *\r\nDisallow: /x\r\nAllow: /x/ok\r\n",
        "User-agent: *\rDisallow: /x\rAllow: /x/ok",
        "\xEF\xBB\xBFUser-agent: *\nDisallow: /x\nAllow: /x/ok",
        "# robots\n\n  user-AGENT :\t* # everyone\nSitemap: http://h/s.xml\nnonsense line\n"
        "DISALLOW:/x#no\n\r\n allow : /x/ok \n",
        "User-agent: *\n\n\nDisallow: /x\r\n\r\nAllow: /x/ok\n",
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        mtget_robots *r = parse_for(forms[i], "mtget");
        cr_expect(!mtget_robots_allowed(r, "/x/no"), "form %zu", i);
        cr_expect(mtget_robots_allowed(r, "/x/ok"), "form %zu", i);
        cr_expect(mtget_robots_allowed(r, "/y"), "form %zu", i);
        mtget_robots_free(r);
    }
}

/* Only the first 500 KiB are parsed. */
LEAK_TEST(mtget_robots, huge_file_is_capped)
{
    size_t size = 2u << 20, n = 0;
    char *text = malloc(size);
    cr_assert(text);
    n += (size_t)sprintf(text, "User-agent: *\n");
    while (n < MTGET_ROBOTS_MAX - 64)
        n += (size_t)sprintf(text + n, "Disallow: /a\n");
    n += (size_t)sprintf(text + n, "Disallow: /early\n");
    while (n < MTGET_ROBOTS_MAX + 1000)
        n += (size_t)sprintf(text + n, "Disallow: /b\n");
    n += (size_t)sprintf(text + n, "Disallow: /late\n");
    while (n < size - 32)
        text[n++] = 'z';
    mtget_robots *r = NULL;
    cr_assert_eq(mtget_robots_new(&r, text, n, "mtget"), 0);
    DENIED(r, "/early");
    DENIED(r, "/a1");
    ALLOWED(r, "/late");
    ALLOWED(r, "/c");
    mtget_robots_free(r);
    free(text);
}

LEAK_TEST(mtget_robots, nuls_and_very_long_lines)
{
    static const char with_nuls[] = "User-agent: *\nDisallow: /x\0y\nDis\0allow: /w\n"
                                    "Disallow: /z\n\0\0\0\nDisallow: /after";
    mtget_robots *r = NULL;
    cr_assert_eq(mtget_robots_new(&r, with_nuls, sizeof with_nuls - 1, "mtget"), 0);
    ALLOWED(r, "/x");  /* the rule is "/x%00y" */
    DENIED(r, "/x%00y");
    ALLOWED(r, "/w");  /* "Dis\0allow" is no key */
    DENIED(r, "/z");
    DENIED(r, "/after");
    mtget_robots_free(r);

    size_t big = 400u << 10;
    char *text = malloc(big + 200);
    cr_assert(text);
    size_t n = (size_t)sprintf(text, "User-agent: *\nDisallow: /");
    memset(text + n, 'a', big);
    n += big;
    n += (size_t)sprintf(text + n, "\nDisallow: /b\n");
    cr_assert_eq(mtget_robots_new(&r, text, n, "mtget"), 0);
    ALLOWED(r, "/aaaa"); /* an overlong rule is dropped */
    DENIED(r, "/b");
    mtget_robots_free(r);

    /* a user-agent line that is very long names nobody */
    n = (size_t)sprintf(text, "User-agent: ");
    memset(text + n, 'm', big);
    n += big;
    n += (size_t)sprintf(text + n, "\nDisallow: /c\n");
    cr_assert_eq(mtget_robots_new(&r, text, n, "mtget"), 0);
    ALLOWED(r, "/c");
    mtget_robots_free(r);
    free(text);
}

/* Patterns built to make a backtracking matcher take exponential time
 * finish in a bounded time (the test's timeout is the bound). */
LEAK_TEST(mtget_robots, pathological_wildcards, .timeout = 60)
{
    size_t cap = MTGET_ROBOTS_MAX;
    char *text = malloc(cap + 1);
    cr_assert(text);
    size_t n = (size_t)sprintf(text, "User-agent: *\n");
    while (n + 4100 < cap) {
        n += (size_t)sprintf(text + n, "Disallow: /");
        for (int i = 0; i < 1000; i++)
            n += (size_t)sprintf(text + n, "*a");
        n += (size_t)sprintf(text + n, "b\n");
    }
    mtget_robots *r = NULL;
    cr_assert_eq(mtget_robots_new(&r, text, n, "mtget"), 0);
    char path[2100];
    path[0] = '/';
    memset(path + 1, 'a', 2000);
    path[2001] = '\0';
    ALLOWED(r, path);
    path[2000] = 'b';
    DENIED(r, path);
    mtget_robots_free(r);
    free(text);
}

/* Random bytes: whatever they parse to, nothing crashes or leaks. */
LEAK_TEST(mtget_robots, random_garbage)
{
    size_t size = 600u << 10;
    char *text = malloc(size);
    cr_assert(text);
    unsigned seed = 12345;
    const char alphabet[] = "Dd:isalow*$/\n\r\0 #u-geAnt%E3";
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < size; i++)
            text[i] = round % 2 ? (char)rand_r(&seed)
                                : alphabet[(unsigned)rand_r(&seed) % (sizeof alphabet - 1)];
        mtget_robots *r = NULL;
        cr_assert_eq(mtget_robots_new(&r, text, size, "mtget"), 0);
        (void)mtget_robots_allowed(r, "/a/b?c=d");
        ALLOWED(r, "/robots.txt");
        mtget_robots_free(r);
    }
    free(text);
}
