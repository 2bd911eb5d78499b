/*
 * cli.h - what the command-line tools (mtcp, mtget) share, so that they
 * read sizes and quote names the same way.
 */
#ifndef MT_TOOLS_CLI_H
#define MT_TOOLS_CLI_H

/* s for a message: newline, tab and backslash as \n, \t, \\, other control
 * characters as \ooo, so that a name holding a newline stays on one line.
 * malloc'd (the caller frees it), or NULL when memory runs out. */
char *cli_quote(const char *s);

/* A size as the options take it: "10M" -> 10485760 (K, M, G, T, with or
 * without "B" or "iB", powers of 1024; fractions allowed); -1 when s is not
 * a size of at least 1 byte. */
long long cli_parse_size(const char *s);

#endif
