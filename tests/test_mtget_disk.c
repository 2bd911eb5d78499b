/*
 * test_mtget_disk.c - mtget's disk side (tools/mtget/): file names from
 * URLs and Content-Disposition headers that try to escape or to hide
 * (traversal, encoded dots and slashes, control characters, long and UTF-8
 * names), writing through a temporary that is renamed into place only when
 * complete (collisions, planted links, a directory at the name, lengths and
 * caps), leftovers of a killed run, and the --continue journal, replayed
 * after torn, garbage and killed appends.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "helpers.h"
#include "mtget.h"

/* ---- names ---- */

static void url_name_is(const char *url, const char *want)
{
    char out[MTGET_NAME_SIZE];
    cr_assert_eq(mtget_name_from_url(out, sizeof out, url), 0, "%s", url);
    cr_expect_str_eq(out, want, "%s", url);
}

LEAK_TEST(mtget_names, from_url)
{
    url_name_is("http://h/a/b/photo.jpg?x=1#frag", "photo.jpg");
    url_name_is("https://h/a/b/photo.jpg#x/y", "photo.jpg");
    url_name_is("http://h/caf%C3%A9.txt", "café.txt");
    url_name_is("http://h/a%20b", "a b");
    url_name_is("http://h/100%", "100%");
    url_name_is("http://h/%zz", "%zz");
    url_name_is("http://h/dir/", "index.html");
    url_name_is("http://Example.COM", "example.com");
    url_name_is("http://Example.COM/", "example.com");
    url_name_is("http://user:pw@h.example:8080/?q", "h.example");
    url_name_is("http://[::1]:8080/", "::1");
    url_name_is("http://h/.hidden", "_.hidden");
    url_name_is("http://h/...", "_...");
    url_name_is("photo.png", "photo.png");
}

LEAK_TEST(mtget_names, hostile_urls)
{
    url_name_is("http://h/../../etc/passwd", "passwd");
    url_name_is("http://h/a/..", "index.html");
    url_name_is("http://h/a/.", "index.html");
    url_name_is("http://h/%2e%2e", "index.html");
    url_name_is("http://h/%2E", "index.html");
    url_name_is("http://h/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "_....etcpasswd");
    url_name_is("http://h/a%2fb", "ab");
    url_name_is("http://h/a%5cb", "ab");
    url_name_is("http://h/..%5c..%5cwin.ini", "_....win.ini");
    url_name_is("http://h/x%0Ay%1Bz%7f%00", "xyz");
    url_name_is("http://h/x\ny\x1b[31mz", "xy[31mz");
    url_name_is("http://h/%0a%0d", "index.html");
    url_name_is("http://h/%2e%00%2e", "index.html"); /* ".\0." -> ".." */

    char out[MTGET_NAME_SIZE];
    cr_expect_eq(mtget_name_from_url(out, sizeof out, "http://"), -EINVAL);
    cr_expect_eq(mtget_name_from_url(out, sizeof out, "http://:80/"), -EINVAL);
    cr_expect_eq(mtget_name_from_url(out, sizeof out, "http://%2e%2e/"), -EINVAL);
    cr_expect_eq(mtget_name_from_url(out, 8, "http://h/x"), -EINVAL);
    cr_expect_eq(mtget_name_from_url(NULL, 64, "http://h/x"), -EINVAL);
}

/* Whether s is whole UTF-8 (no sequence cut). */
static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

static bool ends_with(const char *s, const char *end)
{
    size_t a = strlen(s), b = strlen(end);
    return a >= b && strcmp(s + a - b, end) == 0;
}

LEAK_TEST(mtget_names, long_names_keep_extension)
{
    char url[1024], out[MTGET_NAME_SIZE];
    strcpy(url, "http://h/");
    memset(url + 9, 'a', 296);
    strcpy(url + 9 + 296, ".jpg");
    cr_assert_eq(mtget_name_from_url(out, sizeof out, url), 0);
    cr_expect_eq(strlen(out), MTGET_NAME_SIZE - 1);
    cr_expect(ends_with(out, ".jpg"), "%s", out);

    /* "é" is two bytes, "ツ" three: whatever the limit, no character is cut */
    char name[1024] = "";
    for (int i = 0; i < 100; i++)
        strcat(name, i % 3 ? "é" : "ツ");
    strcat(name, ".png");
    size_t full = strlen(name);
    for (size_t max = 7; max < 300; max++) { /* ".png" and one character */
        char buf[1024];
        strcpy(buf, name);
        mtget_name_fit(buf, max);
        size_t want = max < full ? max : full;
        cr_assert(strlen(buf) <= want && strlen(buf) + 2 >= want, "max %zu: %zu", max, strlen(buf));
        cr_assert(valid_utf8(buf), "max %zu cut a character", max);
        cr_assert(ends_with(buf, ".png"), "max %zu lost the extension", max);
    }
    /* the same through a URL, percent-encoded */
    strcpy(url, "http://h/");
    for (int i = 0; i < 90; i++)
        strcat(url, "%E3%83%84");
    strcat(url, ".tar.gz");
    cr_assert_eq(mtget_name_from_url(out, sizeof out, url), 0);
    cr_expect(valid_utf8(out));
    cr_expect(ends_with(out, "ツ.gz"), "%s", out); /* 3 * 84 + 3 = 255 */
    cr_expect_eq(strlen(out), 255);

    /* no extension, or an "extension" too long to be one */
    char plain[400];
    memset(plain, 'b', 300);
    plain[300] = '\0';
    mtget_name_fit(plain, 255);
    cr_expect_eq(strlen(plain), 255);
    memset(plain, 'c', 300);
    plain[100] = '.';
    plain[300] = '\0';
    mtget_name_fit(plain, 255);
    cr_expect_eq(strlen(plain), 255);
    cr_expect_eq(plain[100], '.');

    /* a small buffer cuts too */
    char small[20];
    cr_assert_eq(mtget_name_from_url(small, sizeof small, "http://h/abcdefghijklmnopqrstuvwxyz.html"),
                 0);
    cr_expect_str_eq(small, "abcdefghijklmn.html");
}

LEAK_TEST(mtget_names, numbered)
{
    char out[MTGET_NAME_SIZE];
    mtget_name_numbered(out, 255, "photo.jpg", 0);
    cr_expect_str_eq(out, "photo.jpg");
    mtget_name_numbered(out, 255, "photo.jpg", 1);
    cr_expect_str_eq(out, "photo.1.jpg");
    mtget_name_numbered(out, 255, "README", 12);
    cr_expect_str_eq(out, "README.12");
    mtget_name_numbered(out, 255, "a.tar.gz", 2);
    cr_expect_str_eq(out, "a.tar.2.gz");
    char name[300];
    memset(name, 'x', 251);
    strcpy(name + 251, ".jpg");
    mtget_name_numbered(out, 255, name, 3);
    cr_expect_eq(strlen(out), 255);
    cr_expect(ends_with(out, "x.3.jpg"), "%s", out);
    mtget_name_numbered(out, 10, "abcdefghijklmnop.jpg", 7);
    cr_expect_str_eq(out, "abcd.7.jpg");
}

/* Whatever bytes a URL or header holds, the name is safe: no '/', '\',
 * control character, not "." or "..", not hidden, within the buffer. */
static void expect_safe(const char *name, size_t size)
{
    cr_assert(strlen(name) > 0 && strlen(name) < size);
    cr_assert(name[0] != '.', "%s", name);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        cr_assert(*p >= 0x20 && *p != 0x7f && *p != '/' && *p != '\\', "%s", name);
}

LEAK_TEST(mtget_names, random_input_gives_safe_names)
{
    const char alphabet[] = "%2e%2f%5c%00%0a./\\\n\x1b\x7f" "a.:@?#\xe3\x83\x84";
    unsigned seed = 7;
    char url[600], header[700], out[64];
    for (int round = 0; round < 20000; round++) {
        size_t len = (unsigned)rand_r(&seed) % 500;
        strcpy(url, round % 2 ? "http://h/" : "https://");
        size_t n = strlen(url);
        for (size_t i = 0; i < len; i++) {
            char c = round % 3 ? alphabet[(unsigned)rand_r(&seed) % (sizeof alphabet - 1)]
                               : (char)(rand_r(&seed) % 255 + 1);
            url[n++] = c;
        }
        url[n] = '\0';
        size_t size = 16 + (unsigned)rand_r(&seed) % (sizeof out - 16);
        if (mtget_name_from_url(out, size, url) == 0)
            expect_safe(out, size);
        snprintf(header, sizeof header, "attachment; filename%s=%s%s", round % 2 ? "*" : "",
                 round % 2 ? "UTF-8''" : "\"", url + 7);
        if (mtget_name_from_disposition(out, size, header) == 0)
            expect_safe(out, size);
    }
}

static void disposition_is(const char *header, int want_err, const char *want)
{
    char out[MTGET_NAME_SIZE] = "";
    cr_expect_eq(mtget_name_from_disposition(out, sizeof out, header), want_err, "%s", header);
    if (want)
        cr_expect_str_eq(out, want, "%s", header);
}

LEAK_TEST(mtget_names, from_disposition)
{
    disposition_is("attachment; filename=\"report.pdf\"", 0, "report.pdf");
    disposition_is("attachment; filename=report.pdf", 0, "report.pdf");
    disposition_is("attachment;filename = \"a b.txt\" ; size=3", 0, "a b.txt");
    disposition_is("attachment; FILENAME=\"a\\\"b.txt\"", 0, "a\"b.txt");
    disposition_is("attachment; filename*=UTF-8''caf%C3%A9.txt; filename=\"cafe.txt\"", 0,
                   "café.txt");
    disposition_is("attachment; filename=\"cafe.txt\"; filename*=utf-8'fr'caf%C3%A9.txt", 0,
                   "café.txt");
    disposition_is("attachment; filename*=ISO-8859-1''caf%E9.txt; filename=cafe.txt", 0,
                   "cafe.txt");
    disposition_is("attachment; filename=\"x;y.txt\"", 0, "x;y.txt");
    disposition_is("inline", -ENOENT, NULL);
    disposition_is("attachment; name=\"x\"", -ENOENT, NULL);
    disposition_is("", -ENOENT, NULL);
}

LEAK_TEST(mtget_names, hostile_disposition)
{
    disposition_is("attachment; filename=\"../../etc/passwd\"", 0, "passwd");
    disposition_is("attachment; filename=\"C:\\\\Windows\\\\win.ini\"", 0, "win.ini");
    disposition_is("attachment; filename=\"..\\\\..\\\\x\"", 0, "x");
    disposition_is("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", 0, "passwd");
    disposition_is("attachment; filename*=UTF-8''%0d%0aevil%1b.txt", 0, "evil.txt");
    disposition_is("attachment; filename=\"..\"", -EINVAL, NULL);
    disposition_is("attachment; filename=\".\"", -EINVAL, NULL);
    disposition_is("attachment; filename=\"../..\"", -EINVAL, NULL);
    disposition_is("attachment; filename=\"/\"", -EINVAL, NULL);
    disposition_is("attachment; filename*=UTF-8''%2e%2e; filename=safe.bin", 0, "safe.bin");
    disposition_is("attachment; filename=\".bashrc\"", 0, "_.bashrc");
    disposition_is("attachment; filename=\"unterminated", 0, "unterminated");
    disposition_is("attachment; filename=\"a\x01\x7f\tb\"", 0, "ab");

    char header[2048], out[MTGET_NAME_SIZE];
    int n = sprintf(header, "attachment; filename=\"");
    memset(header + n, 'q', 600);
    strcpy(header + n + 600, ".txt\"");
    cr_assert_eq(mtget_name_from_disposition(out, sizeof out, header), 0);
    cr_expect_eq(strlen(out), 255);
    cr_expect(ends_with(out, ".txt"));
}

/* ---- writing files ---- */

static char dir[256];
static int dfd = -1;

static void dir_setup(void)
{
    leak_check_begin();
    strcpy(dir, "/tmp/mtget-disk-XXXXXX");
    cr_assert(mkdtemp(dir));
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert(dfd >= 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void dir_teardown(void)
{
    close(dfd);
    dfd = -1;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    leak_check_end();
}

#define DIR_TEST(suite, name, ...) CHECKED_TEST(dir_setup, dir_teardown, suite, name, ##__VA_ARGS__)

/* The content of dir/name ("" for none), into a static buffer. */
static const char *content(const char *name)
{
    static char buf[4096];
    buf[0] = '\0';
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void put(const char *name, const char *text)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Entries in dir whose name starts with prefix, hidden ones counted. */
static int entries(const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
             strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* Write text as `name` and commit; the final name (static). */
static const char *download(const char *name, const char *text, const mtget_out_opts *opts)
{
    static char final[MTGET_NAME_SIZE];
    mtget_out *o = NULL;
    cr_assert_eq(mtget_out_open(&o, dfd, name, opts), 0);
    cr_assert_eq(mtget_out_write(o, text, strlen(text)), 0);
    char *got = NULL;
    int err = mtget_out_commit(o, &got);
    cr_assert_eq(err, 0, "commit: %s", mtget_strerror(err));
    snprintf(final, sizeof final, "%s", got);
    free(got);
    return final;
}

DIR_TEST(mtget_out, write_and_commit)
{
    mtget_out *o = NULL;
    cr_assert_eq(mtget_out_open(&o, dfd, "a.txt", NULL), 0);
    const char *tmp = mtget_out_tmpname(o);
    cr_expect(mtget_is_tmpname(tmp), "%s", tmp);
    cr_assert_eq(mtget_out_write(o, "hello ", 6), 0);
    cr_assert_eq(mtget_out_write(o, "world", 5), 0);
    cr_expect_eq(mtget_out_size(o), 11);
    cr_expect_null(content("a.txt"), "nothing under the final name before the commit");
    char *final = NULL;
    cr_assert_eq(mtget_out_commit(o, &final), 0);
    cr_expect_str_eq(final, "a.txt");
    free(final);
    cr_expect_str_eq(content("a.txt"), "hello world");
    cr_expect_eq(entries(""), 1, "the temporary is gone");
    struct stat st;
    cr_assert_eq(fstatat(dfd, "a.txt", &st, 0), 0);
    cr_expect_eq(st.st_mode & 0777, 0644 & ~(mode_t)umask(022));

    mtget_out_opts opts = {.flags = MTGET_OUT_FSYNC, .mode = 0600};
    cr_expect_str_eq(download("b.bin", "x", &opts), "b.bin");
    cr_assert_eq(fstatat(dfd, "b.bin", &st, 0), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
}

DIR_TEST(mtget_out, refuses_unsafe_names)
{
    const char *bad[] = {"", ".", "..", "../x", "a/b", "/etc/passwd", ".hidden",
                         ".mtget-0000000000000000.part", MTGET_JOURNAL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mtget_out *o = (mtget_out *)1;
        cr_expect_eq(mtget_out_open(&o, dfd, bad[i], NULL), -EINVAL, "'%s'", bad[i]);
        cr_expect_null(o);
    }
    cr_expect_eq(mtget_out_open(NULL, dfd, "x", NULL), -EINVAL);
    cr_expect_eq(entries(""), 0);
}

DIR_TEST(mtget_out, collisions_are_numbered)
{
    put("a.txt", "old");
    cr_expect_str_eq(download("a.txt", "new1", NULL), "a.1.txt");
    cr_expect_str_eq(download("a.txt", "new2", NULL), "a.2.txt");
    cr_expect_str_eq(content("a.txt"), "old");
    cr_expect_str_eq(content("a.1.txt"), "new1");
    cr_expect_str_eq(content("a.2.txt"), "new2");
    cr_expect_str_eq(download("noext", "n", NULL), "noext");
    cr_expect_str_eq(download("noext", "n", NULL), "noext.1");
    cr_expect_eq(entries(".mtget-"), 0);
}

DIR_TEST(mtget_out, directory_at_the_final_name)
{
    cr_assert_eq(mkdirat(dfd, "page.html", 0755), 0);
    cr_expect_str_eq(download("page.html", "body", NULL), "page.1.html");
    struct stat st;
    cr_assert_eq(fstatat(dfd, "page.html", &st, AT_SYMLINK_NOFOLLOW), 0);
    cr_expect(S_ISDIR(st.st_mode));

    /* replacing: a directory is not replaced */
    mtget_out *o = NULL;
    mtget_out_opts opts = {.flags = MTGET_OUT_REPLACE};
    cr_assert_eq(mtget_out_open(&o, dfd, "page.html", &opts), 0);
    cr_expect_eq(mtget_out_commit(o, NULL), -EISDIR);
    mtget_out_abort(o);
    cr_expect_eq(entries(".mtget-"), 0);
}

DIR_TEST(mtget_out, replace_when_asked)
{
    put("a.txt", "old");
    mtget_out_opts opts = {.flags = MTGET_OUT_REPLACE};
    cr_expect_str_eq(download("a.txt", "new", &opts), "a.txt");
    cr_expect_str_eq(content("a.txt"), "new");
    cr_expect_eq(entries(""), 1);
}

/* A link planted at the final name (to a file outside) is neither followed
 * nor replaced. */
DIR_TEST(mtget_out, symlink_at_the_final_name)
{
    cr_assert_eq(mkdirat(dfd, "outside", 0755), 0);
    put("outside/victim", "precious");
    cr_assert_eq(symlinkat("outside/victim", dfd, "a.txt"), 0);
    cr_assert_eq(symlinkat("outside/nothing", dfd, "b.txt"), 0); /* dangling */
    cr_expect_str_eq(download("a.txt", "evil", NULL), "a.1.txt");
    cr_expect_str_eq(download("b.txt", "evil", NULL), "b.1.txt");
    cr_expect_str_eq(content("outside/victim"), "precious");
    cr_expect_null(content("outside/nothing"));
    struct stat st;
    cr_assert_eq(fstatat(dfd, "a.txt", &st, AT_SYMLINK_NOFOLLOW), 0);
    cr_expect(S_ISLNK(st.st_mode));
    cr_expect_str_eq(content("a.1.txt"), "evil");
}

/* A link put at the temporary name while we write: our writes still go to
 * our file (never through the link), and the commit refuses to rename
 * someone else's file into place. */
DIR_TEST(mtget_out, symlink_at_the_temporary_name)
{
    cr_assert_eq(mkdirat(dfd, "outside", 0755), 0);
    put("outside/victim", "precious");
    mtget_out *o = NULL;
    cr_assert_eq(mtget_out_open(&o, dfd, "a.txt", NULL), 0);
    char tmp[MTGET_TMP_SIZE];
    strcpy(tmp, mtget_out_tmpname(o));
    cr_assert_eq(mtget_out_write(o, "part", 4), 0);
    cr_assert_eq(unlinkat(dfd, tmp, 0), 0);
    cr_assert_eq(symlinkat("outside/victim", dfd, tmp), 0);
    cr_assert_eq(mtget_out_write(o, "more", 4), 0);
    cr_expect_eq(mtget_out_commit(o, NULL), MTGET_ETMPGONE);
    mtget_out_abort(o);
    cr_expect_str_eq(content("outside/victim"), "precious");
    cr_expect_null(content("a.txt"));
    struct stat st;
    cr_expect_eq(fstatat(dfd, tmp, &st, AT_SYMLINK_NOFOLLOW), 0, "someone else's link is left");

    /* resuming through a link at a temporary's name is refused */
    cr_expect_eq(mtget_out_open(&o, dfd, "a.txt", &(mtget_out_opts){.resume = tmp}), -ELOOP);
    cr_expect_str_eq(content("outside/victim"), "precious");
    /* and so is a hard link (another name for someone's file) */
    cr_assert_eq(unlinkat(dfd, tmp, 0), 0);
    cr_assert_eq(linkat(dfd, "outside/victim", dfd, tmp, 0), 0);
    cr_expect_eq(mtget_out_open(&o, dfd, "a.txt", &(mtget_out_opts){.resume = tmp}), -EINVAL);
    /* a FIFO does not hang the open */
    cr_assert_eq(unlinkat(dfd, tmp, 0), 0);
    cr_assert_eq(mkfifoat(dfd, tmp, 0600), 0);
    cr_expect_neq(mtget_out_open(&o, dfd, "a.txt", &(mtget_out_opts){.resume = tmp}), 0);
    cr_expect_eq(mtget_out_open(&o, dfd, "a.txt", &(mtget_out_opts){.resume = "a.txt"}),
                 -EINVAL);
    cr_expect_eq(mtget_out_open(&o, dfd, "a.txt",
                                &(mtget_out_opts){.resume = "../.mtget-0123456789abcdef.part"}),
                 -EINVAL);
    cr_expect_eq(mtget_out_open(&o, dfd, "a.txt",
                                &(mtget_out_opts){.resume = ".mtget-0123456789abcdef.part"}),
                 -ENOENT);
    cr_expect_str_eq(content("outside/victim"), "precious");
}

DIR_TEST(mtget_out, length_and_cap_are_checked)
{
    mtget_out *o = NULL;
    mtget_out_opts opts = {.flags = MTGET_OUT_LENGTH, .length = 10};
    cr_assert_eq(mtget_out_open(&o, dfd, "short.bin", &opts), 0);
    cr_assert_eq(mtget_out_write(o, "12345", 5), 0);
    cr_expect_eq(mtget_out_commit(o, NULL), MTGET_ELENGTH, "a short body is not committed");
    cr_expect_eq(mtget_out_write(o, "1234567", 7), MTGET_ELENGTH, "nor a long one written");
    cr_expect_eq(mtget_out_size(o), 5);
    mtget_out_abort(o);
    cr_expect_eq(entries(""), 0, "no file, no temporary");

    opts = (mtget_out_opts){.cap = 8};
    cr_assert_eq(mtget_out_open(&o, dfd, "big.bin", &opts), 0);
    cr_assert_eq(mtget_out_write(o, "12345", 5), 0);
    cr_expect_eq(mtget_out_write(o, "6789", 4), MTGET_ETOOBIG);
    cr_expect_eq(mtget_out_write(o, NULL, SIZE_MAX), MTGET_ETOOBIG);
    cr_expect_eq(mtget_out_size(o), 5);
    cr_assert_eq(mtget_out_write(o, "678", 3), 0);
    cr_assert_eq(mtget_out_commit(o, NULL), 0, "exactly the cap is fine");
    cr_expect_str_eq(content("big.bin"), "12345678");

    opts = (mtget_out_opts){.flags = MTGET_OUT_LENGTH, .length = 0};
    cr_expect_str_eq(download("empty", "", &opts), "empty");
    cr_expect_str_eq(mtget_strerror(MTGET_ETOOBIG), "the file is larger than the size cap");
}

DIR_TEST(mtget_out, long_name_cut_to_the_filesystem_limit)
{
    long max = fpathconf(dfd, _PC_NAME_MAX);
    cr_assert(max > 10);
    char name[400];
    memset(name, 'n', 296);
    strcpy(name + 296, ".jpg");
    const char *got = download(name, "1", NULL);
    cr_expect_eq((long)strlen(got), max > 255 ? 255 : max);
    cr_expect(ends_with(got, ".jpg"));
    got = download(name, "2", NULL);
    cr_expect_eq((long)strlen(got), max > 255 ? 255 : max);
    cr_expect(ends_with(got, "n.1.jpg"), "%s", got);
    cr_expect_eq(entries("n"), 2);
}

DIR_TEST(mtget_out, resume_and_restart)
{
    mtget_out *o = NULL;
    mtget_out_opts opts = {.flags = MTGET_OUT_LENGTH, .length = 10};
    cr_assert_eq(mtget_out_open(&o, dfd, "r.bin", &opts), 0);
    cr_assert_eq(mtget_out_write(o, "01234", 5), 0);
    char tmp[MTGET_TMP_SIZE];
    strcpy(tmp, mtget_out_tmpname(o));
    mtget_out_free(o); /* a stop: the temporary stays */
    cr_expect_null(content("r.bin"));
    cr_expect_str_eq(content(tmp), "01234");

    opts.resume = tmp;
    cr_assert_eq(mtget_out_open(&o, dfd, "r.bin", &opts), 0);
    cr_expect_eq(mtget_out_size(o), 5);
    cr_expect_str_eq(mtget_out_tmpname(o), tmp);
    cr_assert_eq(mtget_out_write(o, "56789", 5), 0);
    cr_assert_eq(mtget_out_commit(o, NULL), 0);
    cr_expect_str_eq(content("r.bin"), "0123456789");

    /* the server answered a Range request with the whole body */
    opts = (mtget_out_opts){0};
    cr_assert_eq(mtget_out_open(&o, dfd, "s.bin", &opts), 0);
    cr_assert_eq(mtget_out_write(o, "stale", 5), 0);
    strcpy(tmp, mtget_out_tmpname(o));
    mtget_out_free(o);
    opts.resume = tmp;
    cr_assert_eq(mtget_out_open(&o, dfd, "s.bin", &opts), 0);
    cr_assert_eq(mtget_out_restart(o), 0);
    cr_expect_eq(mtget_out_size(o), 0);
    cr_assert_eq(mtget_out_write(o, "fresh", 5), 0);
    cr_assert_eq(mtget_out_commit(o, NULL), 0);
    cr_expect_str_eq(content("s.bin"), "fresh");

    /* a temporary already longer than the cap is refused */
    cr_assert_eq(mtget_out_open(&o, dfd, "t.bin", NULL), 0);
    cr_assert_eq(mtget_out_write(o, "0123456789", 10), 0);
    strcpy(tmp, mtget_out_tmpname(o));
    mtget_out_free(o);
    cr_expect_eq(mtget_out_open(&o, dfd, "t.bin", &(mtget_out_opts){.resume = tmp, .cap = 4}),
                 MTGET_ETOOBIG);
    cr_expect_eq(mtget_out_open(&o, dfd, "t.bin",
                                &(mtget_out_opts){.resume = tmp, .flags = MTGET_OUT_LENGTH,
                                                  .length = 4}),
                 MTGET_ELENGTH);
    cr_expect_eq(entries(".mtget-"), 1);
}

static bool keep_named(void *ctx, const char *name)
{
    return strcmp(name, ctx) == 0;
}

DIR_TEST(mtget_out, sweep_leftovers)
{
    put(".mtget-00000000000000aa.part", "left");
    put(".mtget-00000000000000bb.part", "keep");
    cr_assert_eq(symlinkat("/etc/passwd", dfd, ".mtget-00000000000000cc.part"), 0);
    cr_assert_eq(mkdirat(dfd, ".mtget-00000000000000dd.part", 0755), 0);
    put(".mtget-notours.part", "x");
    put("file.txt", "x");
    put(".mtget-00000000000000AA.part", "x"); /* not our form: upper case */
    cr_expect_eq(mtget_out_sweep(dfd, keep_named, ".mtget-00000000000000bb.part"), 2);
    cr_expect_null(content(".mtget-00000000000000aa.part"));
    cr_expect_str_eq(content(".mtget-00000000000000bb.part"), "keep");
    cr_expect_eq(entries(""), 5);
    cr_expect_eq(mtget_out_sweep(dfd, NULL, NULL), 1);
    cr_expect_eq(entries(""), 4);
    struct stat st;
    cr_expect_eq(fstatat(dfd, ".mtget-00000000000000dd.part", &st, 0), 0, "a directory stays");
}

/* ---- the journal ---- */

typedef struct seen {
    int n;
    mtget_record recs[16];
    char text[16][6][512];
} seen;

static int collect(void *ctx, const mtget_record *rec)
{
    seen *s = ctx;
    if (s->n == 16)
        return -ENOSPC;
    mtget_record *r = &s->recs[s->n];
    *r = *rec;
    const char *f[6] = {rec->url, rec->name, rec->etag, rec->last_modified, "", ""};
    for (int i = 0; i < 4; i++)
        snprintf(s->text[s->n][i], 512, "%s", f[i]);
    r->url = s->text[s->n][0];
    r->name = s->text[s->n][1];
    r->etag = s->text[s->n][2];
    r->last_modified = s->text[s->n][3];
    s->n++;
    return 0;
}

static int replay_all(seen *s)
{
    memset(s, 0, sizeof *s);
    mtget_journal *j = NULL;
    cr_assert_eq(mtget_journal_open(&j, dfd, 0), 0);
    int n = mtget_journal_replay(j, collect, s);
    mtget_journal_free(j);
    return n;
}

static void append_raw(const char *bytes, size_t len)
{
    int fd = openat(dfd, MTGET_JOURNAL, O_WRONLY | O_APPEND | O_CLOEXEC);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, bytes, len), (ssize_t)len);
    close(fd);
}

static const mtget_record odd = {
    .kind = MTGET_REC_PART,
    .url = "http://h/a%20b?x=1\t2",
    .name = ".mtget-0123456789abcdef.part",
    .size = 123456789012ull,
    .etag = "W/\"tab\there\nnewline %41\r\"",
    .last_modified = "Wed, 21 Oct 2015 07:28:00 GMT",
};

DIR_TEST(mtget_journal, append_and_replay)
{
    mtget_journal *j = NULL;
    cr_assert_eq(mtget_journal_open(&j, dfd, MTGET_JOURNAL_FSYNC), 0);
    cr_assert_eq(mtget_journal_append(j, &odd), 0);
    cr_assert_eq(mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_DONE,
                                                          .url = "http://h/a%20b?x=1\t2",
                                                          .name = "a b",
                                                          .size = 5}),
                 0);
    cr_assert_eq(mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_GONE,
                                                          .url = "u",
                                                          .name = "n"}),
                 0);
    cr_expect_eq(mtget_journal_append(j, &(mtget_record){.kind = 9, .url = "u"}), -EINVAL);
    cr_expect_eq(mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_DONE}), -EINVAL);
    mtget_journal *second = NULL;
    cr_expect_eq(mtget_journal_open(&second, dfd, 0), -EBUSY, "one run at a time");
    mtget_journal_free(j);

    seen s;
    cr_assert_eq(replay_all(&s), 3);
    cr_expect_eq(s.recs[0].kind, MTGET_REC_PART);
    cr_expect_str_eq(s.recs[0].url, odd.url);
    cr_expect_str_eq(s.recs[0].name, odd.name);
    cr_expect_eq(s.recs[0].size, odd.size);
    cr_expect_str_eq(s.recs[0].etag, odd.etag);
    cr_expect_str_eq(s.recs[0].last_modified, odd.last_modified);
    cr_expect_eq(s.recs[1].kind, MTGET_REC_DONE);
    cr_expect_str_eq(s.recs[1].name, "a b");
    cr_expect_str_eq(s.recs[1].etag, "");
    cr_expect_eq(s.recs[1].size, 5);
    cr_expect_eq(s.recs[2].kind, MTGET_REC_GONE);
}

DIR_TEST(mtget_journal, torn_and_garbage_lines_are_skipped)
{
    mtget_journal *j = NULL;
    cr_assert_eq(mtget_journal_open(&j, dfd, 0), 0);
    cr_assert_eq(mtget_journal_append(j, &odd), 0);
    mtget_journal_free(j);

    /* garbage lines in the middle: a bad checksum, NULs, a line too long,
     * a record whose checksum is right but whose fields are not */
    static const char garbage[] = "0000000000000000 part\tu\tn\t1\t\t\n"
                                  "\0\0\0\n"
                                  "not a record at all\n";
    append_raw(garbage, sizeof garbage - 1);
    const char *wrong_fields[] = {"done\tu", "done\tu\tn\tNaN\t\t", "what\tu\tn\t1\t\t",
                                  "done\t\tn\t1\t\t", "done\tu\tn\t1\t%4\t", "done\tu\tn\t1\t\t\t",
                                  /* and one right record, made the same way */
                                  "done\thttp://h/made\tn\t1\t\t"};
    for (size_t i = 0; i < sizeof wrong_fields / sizeof *wrong_fields; i++) {
        char line[128];
        int n = snprintf(line, sizeof line, "%016llx %s\n",
                         (unsigned long long)XXH64(wrong_fields[i], strlen(wrong_fields[i]), 0),
                         wrong_fields[i]);
        append_raw(line, (size_t)n);
    }
    char *longline = malloc(MTGET_JOURNAL_LINE_MAX * 2 + 1);
    memset(longline, 'L', MTGET_JOURNAL_LINE_MAX * 2);
    longline[MTGET_JOURNAL_LINE_MAX * 2] = '\n';
    append_raw(longline, MTGET_JOURNAL_LINE_MAX * 2 + 1);
    free(longline);

    cr_assert_eq(mtget_journal_open(&j, dfd, 0), 0);
    cr_assert_eq(mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_DONE,
                                                          .url = "http://h/2", .name = "2"}),
                 0);
    mtget_journal_free(j);

    /* a torn last line, as a kill mid-write leaves */
    char line[] = "0123456789abcdef done\thttp://h/torn\tto";
    append_raw(line, strlen(line));
    seen s;
    cr_assert_eq(replay_all(&s), 3);
    cr_expect_str_eq(s.recs[0].url, odd.url);
    cr_expect_str_eq(s.recs[1].url, "http://h/made");
    cr_expect_str_eq(s.recs[2].url, "http://h/2");

    /* the next record after a torn line is whole (opening cut the tail) */
    cr_assert_eq(mtget_journal_open(&j, dfd, 0), 0);
    cr_assert_eq(mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_DONE,
                                                          .url = "http://h/3", .name = "3"}),
                 0);
    mtget_journal_free(j);
    cr_assert_eq(replay_all(&s), 4);
    cr_expect_str_eq(s.recs[3].url, "http://h/3");

    /* a file of nothing but a torn line */
    cr_assert_eq(unlinkat(dfd, MTGET_JOURNAL, 0), 0);
    put(MTGET_JOURNAL, "0123456789abcdef done\tx");
    cr_assert_eq(replay_all(&s), 0);
    struct stat st;
    cr_assert_eq(fstatat(dfd, MTGET_JOURNAL, &st, 0), 0);
    cr_expect_eq(st.st_size, 0);
}

DIR_TEST(mtget_journal, refuses_links_and_huge_records)
{
    cr_assert_eq(mkdirat(dfd, "outside", 0755), 0);
    put("outside/victim", "precious");
    cr_assert_eq(symlinkat("outside/victim", dfd, MTGET_JOURNAL), 0);
    mtget_journal *j = NULL;
    cr_expect_eq(mtget_journal_open(&j, dfd, 0), -ELOOP);
    cr_expect_null(j);
    cr_expect_str_eq(content("outside/victim"), "precious");
    cr_assert_eq(unlinkat(dfd, MTGET_JOURNAL, 0), 0);

    /* a hard link to someone's file: never appended to, never cut */
    put("outside/victim", "precious\nno newline at the end");
    cr_assert_eq(linkat(dfd, "outside/victim", dfd, MTGET_JOURNAL, 0), 0);
    cr_expect_eq(mtget_journal_open(&j, dfd, 0), -EINVAL);
    cr_expect_str_eq(content("outside/victim"), "precious\nno newline at the end");
    cr_assert_eq(unlinkat(dfd, MTGET_JOURNAL, 0), 0);

    /* A record line is "<16 hex> done\t<url>\t\t0\t\t\n": 28 bytes and the
     * url. The longest that fits is written and replayed, one more is not. */
    cr_assert_eq(mtget_journal_open(&j, dfd, 0), 0);
    size_t longest = MTGET_JOURNAL_LINE_MAX - 28;
    char *url = malloc(longest + 2);
    memset(url, 'u', longest + 1);
    url[longest + 1] = '\0';
    cr_expect_eq(mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_DONE, .url = url}),
                 -E2BIG);
    url[longest] = '\0';
    cr_expect_eq(mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_DONE, .url = url}), 0);
    mtget_journal_free(j);
    struct stat st;
    cr_assert_eq(fstatat(dfd, MTGET_JOURNAL, &st, 0), 0);
    cr_expect_eq(st.st_size, MTGET_JOURNAL_LINE_MAX, "nothing of the refused record is left");
    seen s;
    cr_expect_eq(replay_all(&s), 1);
    cr_expect_eq(strlen(s.text[0][0]), 511); /* collect() keeps 511 bytes */
    free(url);
}

/* The etag of record i in the kill test: long, so that a write may tear. */
static void kill_etag(char *out, size_t size, int i)
{
    memset(out, 'a' + i % 26, size - 1);
    out[size - 1] = '\0';
    snprintf(out, 16, "%d", i);
    out[strlen(out)] = '-';
}

typedef struct kill_check {
    int next;
    bool ok;
    char etag[40000];
    char url[64];
} kill_check;

static int check_in_order(void *ctx, const mtget_record *rec)
{
    kill_check *k = ctx;
    snprintf(k->url, sizeof k->url, "http://h/%d", k->next);
    kill_etag(k->etag, sizeof k->etag, k->next);
    if (strcmp(rec->url, k->url) != 0 || strcmp(rec->etag, k->etag) != 0 ||
        rec->size != (uint64_t)k->next)
        k->ok = false;
    k->next++;
    return 0;
}

/* A writer killed with SIGKILL while appending: every record it finished
 * is replayed, in order and intact, and a torn tail is ignored. */
DIR_TEST(mtget_journal, writer_killed_mid_append, .timeout = 120)
{
    static kill_check k;
    for (int round = 0; round < 5; round++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            mtget_journal *j = NULL;
            if (mtget_journal_open(&j, dfd, 0) < 0)
                _exit(1);
            static char etag[40000], url[64];
            for (int i = k.next;; i++) {
                snprintf(url, sizeof url, "http://h/%d", i);
                kill_etag(etag, sizeof etag, i);
                mtget_record rec = {.kind = MTGET_REC_DONE, .url = url, .name = "n",
                                    .size = (uint64_t)i, .etag = etag};
                if (mtget_journal_append(j, &rec) < 0)
                    _exit(2);
                if (write(fds[1], &i, sizeof i) != sizeof i)
                    _exit(3);
            }
        }
        close(fds[1]);
        int acked = -1, got, nacks = 0;
        while (nacks < 20 + round * 7 && read(fds[0], &got, sizeof got) == sizeof got) {
            acked = got;
            nacks++;
        }
        kill(pid, SIGKILL);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status), "the writer failed: %d", WEXITSTATUS(status));
        close(fds[0]);

        mtget_journal *j = NULL;
        cr_assert_eq(mtget_journal_open(&j, dfd, 0), 0);
        k.next = 0;
        k.ok = true;
        int n = mtget_journal_replay(j, check_in_order, &k);
        mtget_journal_free(j);
        cr_assert(k.ok, "round %d: a replayed record is not the one written", round);
        cr_assert_eq(n, k.next);
        cr_assert_geq(n, acked + 1, "round %d: acknowledged records lost", round);
    }
}

/* ---- --continue at start: the journal folded, leftovers swept ---- */

/* A run killed mid-way: u0 done, u1 partial (journaled), u2 partial then
 * given up (GONE), u3 partial but killed before its record was written. */
static void killed_run(void)
{
    mtget_journal *j = NULL;
    mtget_out *o = NULL;
    if (mtget_journal_open(&j, dfd, 0) < 0)
        _exit(1);
    char *final = NULL;
    if (mtget_out_open(&o, dfd, "done.txt", NULL) < 0 || mtget_out_write(o, "zero", 4) < 0 ||
        mtget_out_commit(o, &final) < 0 ||
        mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_DONE, .url = "http://h/u0",
                                                .name = final, .size = 4}) < 0)
        _exit(2);
    free(final);
    mtget_out_opts ten = {.flags = MTGET_OUT_LENGTH, .length = 10};
    if (mtget_out_open(&o, dfd, "one.bin", &ten) < 0 ||
        mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_PART, .url = "http://h/u1",
                                                .name = mtget_out_tmpname(o), .size = 10,
                                                .etag = "\"v1\""}) < 0 ||
        mtget_out_write(o, "0123", 4) < 0)
        _exit(3);
    mtget_out *o2 = NULL, *o3 = NULL;
    if (mtget_out_open(&o2, dfd, "two.bin", NULL) < 0 ||
        mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_PART, .url = "http://h/u2",
                                                .name = mtget_out_tmpname(o2)}) < 0 ||
        mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_GONE, .url = "http://h/u2",
                                                .name = mtget_out_tmpname(o2)}) < 0 ||
        mtget_out_open(&o3, dfd, "three.bin", NULL) < 0 || mtget_out_write(o3, "3", 1) < 0)
        _exit(4);
    raise(SIGKILL);
}

DIR_TEST(mtget_resume, killed_run_resumed)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        killed_run();
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "the run failed at step %d", WEXITSTATUS(status));
    cr_assert_eq(entries(".mtget-"), 4, "journal and three temporaries");

    mtget_journal *j = NULL;
    mtget_resume *r = NULL;
    cr_assert_eq(mtget_journal_open(&j, dfd, 0), 0);
    cr_assert_eq(mtget_resume_new(&r, j), 0);
    const mtget_record *u0 = mtget_resume_find(r, "http://h/u0");
    cr_assert(u0);
    cr_expect_eq(u0->kind, MTGET_REC_DONE);
    cr_expect_str_eq(u0->name, "done.txt");
    cr_expect_null(mtget_resume_find(r, "http://h/u2"));
    cr_expect_null(mtget_resume_find(r, "http://h/u3"));
    const mtget_record *u1 = mtget_resume_find(r, "http://h/u1");
    cr_assert(u1);
    cr_expect_eq(u1->kind, MTGET_REC_PART);
    cr_expect_str_eq(u1->etag, "\"v1\"");

    /* the leftovers of u2 and u3 go, u1's temporary stays */
    cr_expect_eq(mtget_out_sweep(dfd, mtget_resume_keep, r), 2);
    cr_expect_eq(entries(".mtget-"), 2);
    mtget_out *o = NULL;
    mtget_out_opts opts = {.flags = MTGET_OUT_LENGTH, .length = u1->size, .resume = u1->name};
    cr_assert_eq(mtget_out_open(&o, dfd, "one.bin", &opts), 0);
    cr_expect_eq(mtget_out_size(o), 4); /* "Range: bytes=4-", If-Range: "v1" */
    cr_assert_eq(mtget_out_write(o, "456789", 6), 0);
    char *final = NULL;
    cr_assert_eq(mtget_out_commit(o, &final), 0);
    cr_assert_eq(mtget_journal_append(j, &(mtget_record){.kind = MTGET_REC_DONE,
                                                          .url = "http://h/u1",
                                                          .name = final, .size = 10}),
                 0);
    free(final);
    mtget_resume_free(r);
    cr_expect_str_eq(content("one.bin"), "0123456789");

    /* the next run finds both done and nothing to sweep */
    cr_assert_eq(mtget_resume_new(&r, j), 0);
    cr_expect_eq(mtget_resume_find(r, "http://h/u1")->kind, MTGET_REC_DONE);
    cr_expect_eq(mtget_out_sweep(dfd, mtget_resume_keep, r), 0);
    cr_expect_eq(entries(".mtget-"), 1);
    mtget_resume_free(r);
    mtget_journal_free(j);
}

/* Many URLs, each written several times: the last record wins. */
DIR_TEST(mtget_resume, last_record_wins)
{
    mtget_journal *j = NULL;
    cr_assert_eq(mtget_journal_open(&j, dfd, 0), 0);
    char url[64], name[64];
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < 2000; i++) {
            snprintf(url, sizeof url, "http://h/%d", i);
            snprintf(name, sizeof name, ".mtget-%016x.part", i * 3 + pass);
            int kind = pass == 2 ? (i % 3 == 0 ? MTGET_REC_DONE
                                   : i % 3 == 1 ? MTGET_REC_GONE : MTGET_REC_PART)
                                 : MTGET_REC_PART;
            cr_assert_eq(mtget_journal_append(j, &(mtget_record){.kind = kind, .url = url,
                                                                  .name = name,
                                                                  .size = (uint64_t)pass}),
                         0);
        }
    mtget_resume *r = NULL;
    cr_assert_eq(mtget_resume_new(&r, j), 0);
    for (int i = 0; i < 2000; i++) {
        snprintf(url, sizeof url, "http://h/%d", i);
        const mtget_record *rec = mtget_resume_find(r, url);
        snprintf(name, sizeof name, ".mtget-%016x.part", i * 3 + 1);
        cr_assert_eq(mtget_resume_keep(r, name), false, "an earlier temporary is not kept");
        snprintf(name, sizeof name, ".mtget-%016x.part", i * 3 + 2);
        if (i % 3 == 1) {
            cr_assert_null(rec);
            cr_assert_eq(mtget_resume_keep(r, name), false);
            continue;
        }
        cr_assert(rec);
        cr_assert_eq(rec->kind, i % 3 == 0 ? MTGET_REC_DONE : MTGET_REC_PART);
        cr_assert_eq(rec->size, 2);
        cr_assert_eq(mtget_resume_keep(r, name), i % 3 == 2, "%s", name);
    }
    mtget_resume_free(r);
    mtget_journal_free(j);
}
