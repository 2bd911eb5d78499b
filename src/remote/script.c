/*
 * script.c - the Lua scripts that do every operation on the server (so
 * that each call is atomic there, checks that the keys are ours, and is one
 * round trip), and the argument lists that call them.
 *
 * The operations script takes
 *   KEYS: data key, marker key, this call's record key, the record to
 *         delete (the marker key itself when none)
 *   ARGV: the marker's value for this kind, the operation id ("" for none),
 *         the record's lifetime in ms, then operations: a name and its
 *         arguments, one after another
 * and answers {object code, result 1, result 2, ...}, a result being
 * {code} or {code, value}. Codes are those of remote_internal.h. The
 * "#!lua" line makes the server refuse the whole script when it is out of
 * memory before it writes anything, so a batch is all or nothing; reads
 * (no-writes: they must not even delete a record) and removals (allow-oom)
 * run then too, so that a full server can still be read and emptied.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote_internal.h"

/* Lua's unpack takes some thousands of values: bigger pushes go in parts. */
#define LUA_PUSH                                                                                   \
    "local function push(cmd, vals)\n"                                                             \
    "  for s = 1, #vals, 1000 do\n"                                                                \
    "    redis.call(cmd, data, unpack(vals, s, math.min(s + 999, #vals)))\n"                       \
    "  end\n"                                                                                      \
    "end\n"

/* The marker check every script begins with: 0 when the keys are ours for
 * this kind, MT__R_GONE when there is no object (or one of another kind),
 * MT__R_FOREIGN when the names hold what is not ours. */
#define LUA_CHECK                                                                                  \
    "local function check(data, mark, tag)\n"                                                      \
    "  local m = redis.pcall('GET', mark)\n"                                                       \
    "  if type(m) == 'table' then return -6 end\n"                                                 \
    "  if not m then\n"                                                                            \
    "    if redis.call('EXISTS', data) == 1 then return -6 end\n"                                  \
    "    return -5\n"                                                                              \
    "  end\n"                                                                                      \
    "  if m ~= tag then\n"                                                                         \
    "    if string.sub(m, 1, 10) == 'multitask:' then return -5 end\n"                             \
    "    return -6\n"                                                                              \
    "  end\n"                                                                                      \
    "  local want = string.sub(tag, 11, 14) == 'dict' and 'hash' or 'list'\n"                      \
    "  local t = redis.call('TYPE', data)['ok']\n"                                                 \
    "  if t ~= 'none' and t ~= want then return -6 end\n"                                          \
    "  return 0\n"                                                                                 \
    "end\n"

#define OPS_BODY                                                                                   \
    "local data, mark, rec, forget = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"                         \
    "local tag, opid, ttl = ARGV[1], ARGV[2], ARGV[3]\n"                                           \
    "if forget ~= mark then redis.call('DEL', forget) end\n"                                       \
    "if opid ~= '' then\n"                                                                         \
    "  local prior = redis.call('GET', rec)\n"                                                     \
    "  if prior then return cmsgpack.unpack(prior) end\n"                                          \
    "end\n" LUA_CHECK LUA_PUSH "local c = check(data, mark, tag)\n"                                \
    "if c ~= 0 then return {c} end\n" /* A list index as Python takes it: the position, or nil     \
                                         past the end. */                                          \
    "local function at(idx, n)\n"                                                                  \
    "  local i = tonumber(idx)\n"                                                                  \
    "  if i < 0 then i = i + n end\n"                                                              \
    "  if i < 0 or i >= n then return nil end\n"                                                   \
    "  return i\n"                                                                                 \
    "end\n" /* Remove item i of n, moving the shorter side. */                                     \
    "local function remove(i, n)\n"                                                                \
    "  if i == 0 then return redis.call('LPOP', data) end\n"                                       \
    "  if i == n - 1 then return redis.call('RPOP', data) end\n"                                   \
    "  local v = redis.call('LINDEX', data, i)\n"                                                  \
    "  if i < n / 2 then\n"                                                                        \
    "    local front = redis.call('LRANGE', data, 0, i - 1)\n"                                     \
    "    redis.call('LTRIM', data, i + 1, -1)\n"                                                   \
    "    for j = #front, 1, -1 do redis.call('LPUSH', data, front[j]) end\n"                       \
    "  else\n"                                                                                     \
    "    local back = redis.call('LRANGE', data, i + 1, -1)\n"                                     \
    "    redis.call('LTRIM', data, 0, i - 1)\n"                                                    \
    "    push('RPUSH', back)\n"                                                                    \
    "  end\n"                                                                                      \
    "  return v\n"                                                                                 \
    "end\n" /* Put v before item i of n (i clamped), moving the shorter side. */                   \
    "local function insert(i, n, v)\n"                                                             \
    "  if i < 0 then i = i + n end\n"                                                              \
    "  if i < 0 then i = 0 end\n"                                                                  \
    "  if i > n then i = n end\n"                                                                  \
    "  if i == 0 then redis.call('LPUSH', data, v) return end\n"                                   \
    "  if i == n then redis.call('RPUSH', data, v) return end\n"                                   \
    "  if i < n / 2 then\n"                                                                        \
    "    local front = redis.call('LRANGE', data, 0, i - 1)\n"                                     \
    "    redis.call('LTRIM', data, i, -1)\n"                                                       \
    "    redis.call('LPUSH', data, v)\n"                                                           \
    "    for j = #front, 1, -1 do redis.call('LPUSH', data, front[j]) end\n"                       \
    "  else\n"                                                                                     \
    "    local back = redis.call('LRANGE', data, i, -1)\n"                                         \
    "    redis.call('LTRIM', data, 0, i - 1)\n"                                                    \
    "    redis.call('RPUSH', data, v)\n"                                                           \
    "    push('RPUSH', back)\n"                                                                    \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "local res, i = {0}, 4\n"                                                                      \
    "while i <= #ARGV do\n"                                                                        \
    "  local op, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"                                       \
    "  local r\n"                                                                                  \
    "  if op == 'set' then redis.call('HSET', data, a, b) r = {0} i = i + 3\n"                     \
    "  elseif op == 'mset' or op == 'push' then\n"                                                 \
    "    local vals = {}\n"                                                                        \
    "    for j = 1, tonumber(a) * (op == 'mset' and 2 or 1) do vals[j] = ARGV[i + 1 + j] end\n"    \
    "    if #vals > 0 then push(op == 'mset' and 'HSET' or 'RPUSH', vals) end\n"                   \
    "    r = {0} i = i + 2 + #vals\n"                                                              \
    "  elseif op == 'get' then\n"                                                                  \
    "    local v = redis.call('HGET', data, a)\n"                                                  \
    "    r = v and {0, v} or {-1} i = i + 2\n"                                                     \
    "  elseif op == 'has' then r = {0, redis.call('HEXISTS', data, a)} i = i + 2\n"                \
    "  elseif op == 'del' then r = {redis.call('HDEL', data, a) == 1 and 0 or -1} i = i + 2\n"     \
    "  elseif op == 'pop' then\n"                                                                  \
    "    local v = redis.call('HGET', data, a)\n"                                                  \
    "    if v then redis.call('HDEL', data, a) r = {0, v} else r = {-1} end\n"                     \
    "    i = i + 2\n"                                                                              \
    "  elseif op == 'len' then r = {0, redis.call('HLEN', data)} i = i + 1\n"                      \
    "  elseif op == 'all' then r = {0, redis.call('HGETALL', data)} i = i + 1\n"                   \
    "  elseif op == 'clear' then redis.call('DEL', data) r = {0} i = i + 1\n" /* the sum read back \
                                                                                 as text: Lua's    \
                                                                                 numbers hold 53   \
                                                                                 bits */           \
    "  elseif op == 'incr' then\n"                                                                 \
    "    local n = redis.pcall('HINCRBY', data, a, b)\n"                                           \
    "    if type(n) == 'table' then\n"                                                             \
    "      r = {string.find(n.err, 'overflow') and -4 or -3}\n"                                    \
    "    else r = {0, redis.call('HGET', data, a)} end\n"                                          \
    "    i = i + 3\n"                                                                              \
    "  elseif op == 'cas' then\n"                                                                  \
    "    local v = redis.call('HGET', data, a)\n"                                                  \
    "    local e, d, new = ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]\n"                                \
    "    local same = (e == '1') == (v ~= false) and (e ~= '1' or v == ARGV[i + 3])\n"             \
    "    if not same then r = {0, 0}\n"                                                            \
    "    else\n"                                                                                   \
    "      if ARGV[i + 4] == '1' then redis.call('HSET', data, a, ARGV[i + 5])\n"                  \
    "      elseif v then redis.call('HDEL', data, a) end\n"                                        \
    "      r = {0, 1}\n"                                                                           \
    "    end\n"                                                                                    \
    "    i = i + 6\n"                                                                              \
    "  elseif op == 'llen' then r = {0, redis.call('LLEN', data)} i = i + 1\n"                     \
    "  elseif op == 'lall' then r = {0, redis.call('LRANGE', data, 0, -1)} i = i + 1\n"            \
    "  elseif op == 'lget' or op == 'lset' or op == 'lpop' then\n"                                 \
    "    local n = redis.call('LLEN', data)\n"                                                     \
    "    local k = at(a, n)\n"                                                                     \
    "    if not k then r = {-2}\n"                                                                 \
    "    elseif op == 'lget' then r = {0, redis.call('LINDEX', data, k)}\n"                        \
    "    elseif op == 'lset' then redis.call('LSET', data, k, b) r = {0}\n"                        \
    "    else r = {0, remove(k, n)} end\n"                                                         \
    "    i = i + (op == 'lset' and 3 or 2)\n"                                                      \
    "  elseif op == 'ins' then\n"                                                                  \
    "    insert(tonumber(a), redis.call('LLEN', data), b) r = {0} i = i + 3\n"                     \
    "  else return redis.error_reply('ERR multitask: unknown operation') end\n"                    \
    "  res[#res + 1] = r\n"                                                                        \
    "end\n"                                                                                        \
    "if opid ~= '' then redis.call('SET', rec, cmsgpack.pack(res), 'PX', ttl) end\n"               \
    "return res\n"

const char mt__rscript_ops[] = "#!lua\n" OPS_BODY;
const char mt__rscript_ops_read[] = "#!lua flags=no-writes\n" OPS_BODY;
const char mt__rscript_ops_shrink[] = "#!lua flags=allow-oom\n" OPS_BODY;

/* KEYS: data, marker. ARGV: the kind's marker value. Answers 0 (ours
 * already), 1 (made), or the check's code. */
const char mt__rscript_open[] = "#!lua\n" LUA_CHECK "local c = check(KEYS[1], KEYS[2], ARGV[1])\n"
                                "if c ~= -5 then return c end\n"
                                "local m = redis.call('GET', KEYS[2])\n"
                                "if m then return -5 end\n"
                                "redis.call('SET', KEYS[2], ARGV[1])\n"
                                "return 1\n";

/* KEYS: data, marker. Removes both if the marker is ours (either kind):
 * 0, or -5 (nothing there), -6 (not ours). */
const char mt__rscript_unlink[] =
    "#!lua\n"
    "local m = redis.pcall('GET', KEYS[2])\n"
    "if type(m) == 'table' then return -6 end\n"
    "if not m then\n"
    "  if redis.call('EXISTS', KEYS[1]) == 1 then return -6 end\n"
    "  return -5\n"
    "end\n"
    "if m ~= 'multitask:dict:1' and m ~= 'multitask:list:1' then return -6 end\n"
    "local want = m == 'multitask:dict:1' and 'hash' or 'list'\n"
    "local t = redis.call('TYPE', KEYS[1])['ok']\n"
    "if t ~= 'none' and t ~= want then return -6 end\n"
    "redis.call('DEL', KEYS[1], KEYS[2])\n"
    "return 0\n";

/* ------------------------------------------------------ argument lists */

static bool grow(mt__rargs *a, size_t more)
{
    if (a->failed) return false;
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 32;
        const char **argv = realloc(a->argv, (size_t)cap * sizeof *argv);
        if (argv) a->argv = argv;
        size_t *lens = argv ? realloc(a->lens, (size_t)cap * sizeof *lens) : NULL;
        if (lens) a->lens = lens;
        size_t *offs = lens ? realloc(a->offs, (size_t)cap * sizeof *offs) : NULL;
        if (!offs) {
            a->failed = true;
            return false;
        }
        a->offs = offs;
        a->cap = cap;
    }
    if (a->slen + more > a->scap) {
        size_t scap = a->scap ? a->scap * 2 : 256;
        while (scap < a->slen + more)
            scap *= 2;
        char *store = realloc(a->store, scap);
        if (!store) {
            a->failed = true;
            return false;
        }
        a->store = store;
        a->scap = scap;
        /* arguments kept in the store moved with it */
        for (int i = 0; i < a->argc; i++)
            if (a->offs[i] != SIZE_MAX) a->argv[i] = a->store + a->offs[i];
    }
    return true;
}

void mt__rargs_add(mt__rargs *a, const void *p, size_t len)
{
    if (!grow(a, 0)) return;
    a->argv[a->argc] = len ? p : "";
    a->lens[a->argc] = len;
    a->offs[a->argc++] = SIZE_MAX;
}

void mt__rargs_op(mt__rargs *a, const char *name)
{
    mt__rargs_add(a, name, strlen(name));
    a->nops++;
}

void mt__rargs_copy(mt__rargs *a, const void *p, size_t len)
{
    if (!grow(a, len + 1)) return;
    if (len) memcpy(a->store + a->slen, p, len);
    a->store[a->slen + len] = '\0';
    a->argv[a->argc] = a->store + a->slen;
    a->lens[a->argc] = len;
    a->offs[a->argc++] = a->slen;
    a->slen += len + 1;
}

void mt__rargs_fmt(mt__rargs *a, const char *fmt, ...)
{
    char text[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof text) {
        a->failed = true;
        return;
    }
    if (!grow(a, (size_t)n + 1)) return;
    memcpy(a->store + a->slen, text, (size_t)n + 1);
    a->argv[a->argc] = a->store + a->slen;
    a->lens[a->argc] = (size_t)n;
    a->offs[a->argc++] = a->slen;
    a->slen += (size_t)n + 1;
}

void mt__rargs_free(mt__rargs *a)
{
    free(a->argv);
    free(a->lens);
    free(a->offs);
    free(a->store);
    memset(a, 0, sizeof *a);
}

int mt__rcode(long long code)
{
    switch (code) {
    case MT__R_OK:
        return 0;
    case MT__R_KEY:
        return MT_EKEY;
    case MT__R_INDEX:
        return MT_EINDEX;
    case MT__R_NOTINT:
        return -EINVAL;
    case MT__R_OVERFLOW:
        return -EOVERFLOW;
    case MT__R_GONE:
        return -ENOENT;
    case MT__R_FOREIGN:
        return -EPROTO;
    case MT__R_EMPTY:
    case MT__R_FULL:
        return -EAGAIN;
    case MT__R_CLOSED:
        return MT_ECLOSED;
    case MT__R_STALE:
        return -ESTALE;
    case MT__R_EXISTS:
        return -EEXIST;
    case MT__R_TOOBIG:
        return -EMSGSIZE;
    }
    return MT_EREMOTE;
}
