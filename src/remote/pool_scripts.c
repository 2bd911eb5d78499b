/*
 * pool_scripts.c - the Lua scripts of a pool on a server, and the result
 * records they and the workers write.
 *
 * A pool NAME is, on the server:
 *   NAME:multitask   the marker, "multitask:pool:1"
 *   NAME:tasks       a stream of calls; its consumer group "workers" hands
 *                    each entry to one worker machine (XREADGROUP), which
 *                    acknowledges and deletes it once every call in it was
 *                    answered (XACK + XDEL, in the same script as the
 *                    answers, so an entry is never both answered and left
 *                    pending, nor acknowledged unanswered)
 *   NAME:hb:WORKER   a worker machine's heartbeat: a key whose TTL is the
 *                    worker's timeout, set again every quarter of it
 *   NAME:res:CLIENT  a stream of answers for one client (its pool handle);
 *                    it expires when no answer came for a while (a client
 *                    gone, futures abandoned), and the client deletes it
 * An entry of NAME:tasks is c (the client), i (its first call's id), f
 * (the function's name), n (calls), a (their arguments, mt_pack'ed), r
 * (times it may still be handed out again after its worker died).
 *
 * Why streams: a consumer group remembers which worker holds which entry
 * (the pending list), through a server restart (the AOF keeps it), which
 * is what finding the calls of a dead worker needs; and XREAD on the
 * answers is not destructive, so an answer the connection lost on its way
 * to the client is read again after reconnecting rather than lost, as a
 * list's BLPOP would lose it.
 *
 * Key names are made inside the scripts from NAME: a pool is one server's
 * (no Cluster), as the dict and list are.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <string.h>

#include "remote_internal.h"

/* KEYS: marker, tasks. ARGV: tag, group. Makes the pool when NAME is free;
 * -6 when NAME holds what is not a pool of ours. */
const char mt__rscript_pool_open[] =
    "#!lua\n"
    "local m = redis.pcall('GET', KEYS[1])\n"
    "if type(m) == 'table' then return -6 end\n"
    "if m and m ~= ARGV[1] then return -6 end\n"
    "local t = redis.call('TYPE', KEYS[2])['ok']\n"
    "if t ~= 'none' and t ~= 'stream' then return -6 end\n"
    "if not m then redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')\n"
    "return 0\n";

/* KEYS: tasks, marker. ARGV: tag, client, retries, then per entry: first
 * id, function name, calls, arguments. Returns the entries added, or -6. */
const char mt__rscript_pool_submit[] =
    "#!lua\n"
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -6 end\n"
    "local n = 0\n"
    "for i = 4, #ARGV, 4 do\n"
    "  redis.call('XADD', KEYS[1], '*', 'c', ARGV[2], 'i', ARGV[i], 'f', ARGV[i + 1],\n"
    "             'n', ARGV[i + 2], 'a', ARGV[i + 3], 'r', ARGV[3])\n"
    "  n = n + 1\n"
    "end\n"
    "return n\n";

/* KEYS: tasks, then the answer streams. ARGV: group, answers' lifetime in
 * ms, k, k entry ids to acknowledge, then one blob of answers per answer
 * stream. */
const char mt__rscript_pool_done[] =
    "#!lua\n"
    "local k = tonumber(ARGV[3])\n"
    "for j = 2, #KEYS do\n"
    "  redis.call('XADD', KEYS[j], '*', 'd', ARGV[3 + k + j - 1])\n"
    "  redis.call('PEXPIRE', KEYS[j], ARGV[2])\n"
    "end\n"
    "for s = 4, 3 + k, 500 do\n"
    "  local e = math.min(s + 499, 3 + k)\n"
    "  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, s, e))\n"
    "  redis.call('XDEL', KEYS[1], unpack(ARGV, s, e))\n"
    "end\n"
    "return 0\n";

/*
 * KEYS: tasks. ARGV: NAME, group, answers' lifetime in ms, MT_EWORKER.
 * Every entry pending with a worker whose heartbeat expired is taken back
 * from it: added again (r one less) while r > 0, else answered with
 * MT_EWORKER for each of its calls; the dead worker leaves the group. The
 * workers are looked at one by one (XINFO CONSUMERS), so that the pending
 * entries of live workers, however many, never hide a dead one's. At most
 * 1000 entries a call (the server does nothing else meanwhile): the next
 * call takes the rest. Returns how many were taken back. One script, so
 * two reapers (clients, workers) never both take an entry.
 */
const char mt__rscript_pool_reap[] =
    "#!lua\n"
    "local tasks, name, group = KEYS[1], ARGV[1], ARGV[2]\n"
    "local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', tasks, group)\n"
    "if not ok then return 0 end\n"
    "local taken = 0\n"
    "local function take(id, who)\n"
    "  local e = redis.call('XRANGE', tasks, id, id)\n"
    "  redis.call('XACK', tasks, group, id)\n"
    "  redis.call('XDEL', tasks, id)\n"
    "  taken = taken + 1\n"
    "  if #e == 0 then return end\n"
    "  local h, fl = {}, e[1][2]\n"
    "  for i = 1, #fl, 2 do h[fl[i]] = fl[i + 1] end\n"
    "  local r = tonumber(h.r) or 0\n"
    "  if r > 0 then\n"
    "    redis.call('XADD', tasks, '*', 'c', h.c, 'i', h.i, 'f', h.f, 'n', h.n,\n"
    "               'a', h.a, 'r', tostring(r - 1))\n"
    "    return\n"
    "  end\n"
    "  local msg = 'worker ' .. who .. ' stopped beating (it died or was cut off)'\n"
    "  local first, parts = tonumber(h.i), {}\n"
    "  for j = 0, tonumber(h.n) - 1 do\n"
    "    local id2 = first + j\n"
    "    parts[#parts + 1] = struct.pack('<I4I4i4I4', id2 % 4294967296,\n"
    "      math.floor(id2 / 4294967296), tonumber(ARGV[4]), #msg) .. msg\n"
    "  end\n"
    "  local res = name .. ':res:' .. h.c\n"
    "  redis.call('XADD', res, '*', 'd', table.concat(parts))\n"
    "  redis.call('PEXPIRE', res, ARGV[3])\n"
    "end\n"
    "for _, c in ipairs(consumers) do\n"
    "  local info = {}\n"
    "  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end\n"
    "  local who = info['name']\n"
    "  if who and redis.call('EXISTS', name .. ':hb:' .. who) == 0 then\n"
    "    local pend = redis.call('XPENDING', tasks, group, '-', '+', 1000 - taken, who)\n"
    "    for _, p in ipairs(pend) do take(p[1], who) end\n"
    "    if #pend == 0 then redis.call('XGROUP', 'DELCONSUMER', tasks, group, who) end\n"
    "  end\n"
    "  if taken >= 1000 then break end\n"
    "end\n"
    "return taken\n";

int mt__rpool_put_answer(mt_buf *b, uint64_t id, int err, const void *p, size_t len)
{
    if (len > UINT32_MAX)
        return -EMSGSIZE;
    uint32_t hdr[4] = {htole32((uint32_t)id), htole32((uint32_t)(id >> 32)),
                       htole32((uint32_t)err), htole32((uint32_t)len)};
    int rc = mt_buf_append(b, hdr, sizeof hdr);
    return rc < 0 ? rc : mt_buf_append(b, p, len);
}

int mt__rpool_next_answer(const char **pos, const char *end, uint64_t *id, int *err, mt_iov *v)
{
    if (*pos == end)
        return 0;
    uint32_t hdr[4];
    if ((size_t)(end - *pos) < sizeof hdr)
        return -EPROTO;
    memcpy(hdr, *pos, sizeof hdr);
    size_t len = le32toh(hdr[3]);
    if ((size_t)(end - *pos) - sizeof hdr < len)
        return -EPROTO;
    *id = (uint64_t)le32toh(hdr[0]) | (uint64_t)le32toh(hdr[1]) << 32;
    *err = (int)le32toh(hdr[2]);
    *v = (mt_iov){*pos + sizeof hdr, len};
    *pos += sizeof hdr + len;
    return 1;
}

int mt__rpool_keys_of(mt__rpool_keys *k, const char *name)
{
    int n = snprintf(k->mark, sizeof k->mark, "%s:multitask", name);
    n |= snprintf(k->tasks, sizeof k->tasks, "%s:tasks", name);
    return n < 0 ? -EINVAL : 0;
}

/* An integer reply's value, or err for anything else. */
static int int_reply(redisReply *reply, long long *v)
{
    int err = 0;
    if (reply->type == REDIS_REPLY_INTEGER)
        *v = reply->integer;
    else
        err = reply->type == REDIS_REPLY_ERROR ? mt__rerr(reply) : MT_EREMOTE;
    freeReplyObject(reply);
    return err;
}

int mt__rpool_script(mt__rconn *c, double window, const char *script, mt__rargs *a,
                     long long *result)
{
    if (a->failed)
        return -ENOMEM;
    /* argv[0] and argv[1] are EVALSHA's, filled in by mt__rconn_script */
    for (int i = 0; i < a->argc; i++)
        if (a->offs[i] != SIZE_MAX)
            a->argv[i] = a->store + a->offs[i];
    redisReply *reply;
    int err = mt__rconn_script(c, window, script, a->argc, a->argv, a->lens, &reply);
    long long v = 0;
    if (err == 0)
        err = int_reply(reply, &v);
    if (err == 0 && v == MT__R_FOREIGN)
        err = -EPROTO;
    if (result)
        *result = v;
    return err;
}

int mt__rpool_open_keys(mt__rconn *c, const mt__rpool_keys *k)
{
    mt__rargs a = {0};
    mt__rargs_add(&a, "", 0);
    mt__rargs_add(&a, "", 0);
    mt__rargs_add(&a, "2", 1);
    mt__rargs_add(&a, k->mark, strlen(k->mark));
    mt__rargs_add(&a, k->tasks, strlen(k->tasks));
    mt__rargs_add(&a, MT__RPOOL_TAG, strlen(MT__RPOOL_TAG));
    mt__rargs_add(&a, MT__RPOOL_GROUP, strlen(MT__RPOOL_GROUP));
    int err = mt__rpool_script(c, c->timeout, mt__rscript_pool_open, &a, NULL);
    mt__rargs_free(&a);
    return err;
}

int mt__rpool_reap(mt__rconn *c, double window, const char *name, const mt__rpool_keys *k)
{
    mt__rargs a = {0};
    mt__rargs_add(&a, "", 0);
    mt__rargs_add(&a, "", 0);
    mt__rargs_add(&a, "1", 1);
    mt__rargs_add(&a, k->tasks, strlen(k->tasks));
    mt__rargs_add(&a, name, strlen(name));
    mt__rargs_add(&a, MT__RPOOL_GROUP, strlen(MT__RPOOL_GROUP));
    mt__rargs_fmt(&a, "%d", MT__RPOOL_ANSWER_TTL_MS);
    mt__rargs_fmt(&a, "%d", MT_EWORKER);
    long long taken = 0;
    int err = mt__rpool_script(c, window, mt__rscript_pool_reap, &a, &taken);
    mt__rargs_free(&a);
    return err < 0 ? err : (int)taken;
}
