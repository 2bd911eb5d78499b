/*
 * queue_script.c - the queue's Lua scripts. A queue NAME on the server is
 *
 *   NAME                  a stream: one entry per message (field "m"),
 *                         from its put until it is done, and the consumer
 *                         group "g" that hands each entry to one consumer
 *   NAME:multitask        the marker, "multitask:queue:1"
 *   NAME:multitask:queue  a hash: maxsize, maxmsg, joinable, idle (ms),
 *                         closed ("0" or "1"), cur (XAUTOCLAIM's cursor)
 *   NAME:multitask:wake   a stream of at most one entry, added to when a
 *                         waiter may proceed: room after a full queue, a
 *                         joinable queue all done, a close, a message
 *                         given back. Waiters block on it with XREAD.
 *
 * Consumers are named per handle and process (queue.c): "n:ID" for plain
 * gets, "j:ID" for gets of a joinable queue (kept pending until task_done),
 * "c:ID" for claims (pending until ack or nack); "back" holds the messages
 * given back, idle already, so that the next get takes them first. A plain
 * get acknowledges and deletes its entry in the same script that reads it.
 * Every other taking stays in the group's pending list, where XAUTOCLAIM
 * hands an entry idle for longer than `idle` to the next get or claim.
 * Unfinished messages (join) are the stream's length: an entry is deleted
 * when it is done.
 *
 * The operations script has the header of the dict's and list's (KEYS:
 * data, marker, record, record to delete, then the hash and the wake
 * stream; ARGV: marker value, operation id, record lifetime, then one
 * operation) and answers {object code, {code, values...}}.
 */
#define _GNU_SOURCE
#include "remote_internal.h"

#define QUEUE_BODY                                                                                 \
    "local data, mark, rec, forget, meta, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], "    \
    "KEYS[6]\n"                                                                                    \
    "local tag, opid, ttl, op = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"                              \
    "if forget ~= mark then redis.call('DEL', forget) end\n"                                       \
    "if opid ~= '' then\n"                                                                         \
    "  local prior = redis.call('GET', rec)\n"                                                     \
    "  if prior then return cmsgpack.unpack(prior) end\n"                                          \
    "end\n"                                                                                        \
    "local m = redis.pcall('GET', mark)\n"                                                         \
    "if type(m) == 'table' then return {-6} end\n"                                                 \
    "if not m then return {redis.call('EXISTS', data) == 1 and -6 or -5} end\n"                    \
    "if m ~= tag then return {string.sub(m, 1, 10) == 'multitask:' and -5 or -6} end\n"          \
    "if redis.call('TYPE', data)['ok'] ~= 'stream' or redis.call('TYPE', meta)['ok'] ~= 'hash'\n"  \
    "   or string.find('none stream', redis.call('TYPE', wake)['ok'], 1, true) == nil then\n"      \
    "  return {-6}\n"                                                                              \
    "end\n"                                                                                        \
    "local cfg = redis.call('HMGET', meta, 'maxsize', 'joinable', 'idle', 'closed', 'cur')\n"      \
    "local maxsize, joinable, idle = tonumber(cfg[1]), cfg[2] == '1', tonumber(cfg[3])\n"          \
    "local closed, cur = cfg[4] == '1', cfg[5] or '0-0'\n"                                         \
    "local function wake_id()\n"                                                                   \
    "  local e = redis.call('XREVRANGE', wake, '+', '-', 'COUNT', 1)\n"                            \
    "  return e[1] and e[1][1] or '0-0'\n"                                                         \
    "end\n"                                                                                        \
    "local function poke() redis.call('XADD', wake, 'MAXLEN', 1, '*', 'w', '1') end\n"             \
    /* an entry is done: gone, and the waiters it may concern told */                              \
    "local function finish(id, n)\n"                                                               \
    "  redis.call('XACK', data, 'g', id)\n"                                                        \
    "  redis.call('XDEL', data, id)\n"                                                             \
    "  if n >= maxsize or (joinable and n == 1) or closed then poke() end\n"                       \
    "end\n"                                                                                        \
    /* give an entry back, idle already: the next get takes it first */                            \
    "local function give_back(id)\n"                                                               \
    "  redis.call('XCLAIM', data, 'g', 'back', 0, id, 'IDLE', idle + 1, 'JUSTID')\n"               \
    "  redis.call('HSET', meta, 'cur', '0-0')\n"                                                   \
    "  poke()\n"                                                                                   \
    "end\n"                                                                                        \
    /* claimed messages the queue waits for once closed */                                         \
    "local function claims_held()\n"                                                               \
    "  local p = redis.call('XPENDING', data, 'g')\n"                                              \
    "  local n = 0\n"                                                                              \
    "  for _, c in ipairs(p[4] or {}) do\n"                                                        \
    "    if string.sub(c[1], 1, 2) ~= 'j:' then n = n + tonumber(c[2]) end\n"                      \
    "  end\n"                                                                                      \
    "  return n\n"                                                                                 \
    "end\n"                                                                                        \
    "local function last_delivered()\n"                                                           \
    "  local g = redis.call('XINFO', 'GROUPS', data)[1]\n"                                         \
    "  for k = 1, #g, 2 do if g[k] == 'last-delivered-id' then return g[k + 1] end end\n"          \
    "  return '0-0'\n"                                                                             \
    "end\n"                                                                                        \
    /* an entry idle too long in the pending list, claimed for `me` */                             \
    "local function reclaim(me, rounds)\n"                                                         \
    "  for k = 1, rounds do\n"                                                                     \
    "    local a = redis.call('XAUTOCLAIM', data, 'g', me, idle, cur, 'COUNT', 1)\n"               \
    "    if a[1] ~= cur then cur = a[1] redis.call('HSET', meta, 'cur', cur) end\n"                \
    "    local e = a[2][1]\n"                                                                      \
    "    if e then\n"                                                                              \
    "      local p = redis.call('XPENDING', data, 'g', e[1], e[1], 1)[1]\n"                        \
    "      return e[1], e[2][2], p[4]\n"                                                           \
    "    end\n"                                                                                    \
    "    if cur == '0-0' then return nil end\n"                                                    \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "local r\n"                                                                                    \
    "if op == 'put' then\n"                                                                        \
    "  if closed then r = {-9}\n"                                                                  \
    "  elseif redis.call('XLEN', data) >= maxsize then r = {-8, wake_id()}\n"                      \
    "  else redis.call('XADD', data, '*', 'm', ARGV[5]) r = {0} end\n"                             \
    "elseif op == 'get' then\n"                                                                    \
    "  local mode, me, cap = ARGV[5], ARGV[6], tonumber(ARGV[7])\n"                                \
    "  local n = redis.call('XLEN', data)\n"                                                       \
    "  local id, msg, times\n"                                                                     \
    "  local pending = n > 0 and redis.call('XPENDING', data, 'g')[1] or 0\n"                      \
    "  if pending > 0 then id, msg, times = reclaim(me, 1) end\n"                                  \
    "  if not id and n > pending then\n"                                                           \
    "    local rd = redis.call('XREADGROUP', 'GROUP', 'g', me, 'COUNT', 1, 'STREAMS', data, '>')\n" \
    "    if rd and rd[1] and rd[1][2][1] then\n"                                                   \
    "      id, msg, times = rd[1][2][1][1], rd[1][2][1][2][2], 1\n"                                \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  if not id and pending > 0 then id, msg, times = reclaim(me, 100) end\n"                     \
    "  if id and #msg > cap then give_back(id) r = {-12}\n"                                        \
    "  elseif id and mode == 'n' then finish(id, n) r = {0, msg}\n"                                \
    "  elseif id then r = {0, msg, id, times}\n"                                                   \
    "  elseif closed and claims_held() == 0 then r = {-9}\n"                                       \
    "  else r = {-7, last_delivered(), wake_id()} end\n"                                           \
    "elseif op == 'settle' then\n"                                                                 \
    "  local id = ARGV[5]\n"                                                                       \
    "  local p = redis.call('XPENDING', data, 'g', id, id, 1)[1]\n"                                \
    "  if not p or string.sub(p[2], 1, 2) ~= 'c:' or tostring(p[4]) ~= ARGV[6] then r = {-10}\n"   \
    "  elseif ARGV[7] == '1' then finish(id, redis.call('XLEN', data)) r = {0}\n"                  \
    "  else give_back(id) r = {0} end\n"                                                           \
    "elseif op == 'done' then\n"                                                                   \
    "  local p = redis.call('XPENDING', data, 'g', '-', '+', 1, ARGV[5])[1]\n"                     \
    "  if not p then r = {-10}\n"                                                                  \
    "  else finish(p[1], redis.call('XLEN', data)) r = {0} end\n"                                  \
    "elseif op == 'unfinished' then\n"                                                             \
    "  r = redis.call('XLEN', data) == 0 and {0} or {-7, wake_id()}\n"                             \
    "elseif op == 'close' then\n"                                                                  \
    "  if not closed then redis.call('HSET', meta, 'closed', '1') end\n"                           \
    "  poke() r = {0}\n"                                                                           \
    "elseif op == 'len' then r = {0, redis.call('XLEN', data)}\n"                                  \
    "elseif op == 'closed' then r = {0, closed and 1 or 0}\n"                                      \
    /* a handle goes: its claims go back, its consumers holding nothing go */                      \
    "elseif op == 'bye' then\n"                                                                    \
    "  for _, p in ipairs(redis.call('XPENDING', data, 'g', '-', '+', 10000, ARGV[7])) do\n"       \
    "    give_back(p[1])\n"                                                                        \
    "  end\n"                                                                                      \
    "  for k = 5, 7 do\n"                                                                          \
    "    if not redis.call('XPENDING', data, 'g', '-', '+', 1, ARGV[k])[1] then\n"                 \
    "      redis.call('XGROUP', 'DELCONSUMER', data, 'g', ARGV[k])\n"                              \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  r = {0}\n"                                                                                  \
    "else return redis.error_reply('ERR multitask: unknown operation') end\n"                      \
    "local res = {0, r}\n"                                                                         \
    "if opid ~= '' then redis.call('SET', rec, cmsgpack.pack(res), 'PX', ttl) end\n"               \
    "return res\n"

static const char queue_write[] = "#!lua\n" QUEUE_BODY;
static const char queue_read[] = "#!lua flags=no-writes\n" QUEUE_BODY;
/* removals only (a get, an ack, task_done, a close): they run on a server
 * out of memory, so a full server can still be drained */
static const char queue_shrink[] = "#!lua flags=allow-oom\n" QUEUE_BODY;
const char *const mt__rscript_queue[3] = {queue_write, queue_read, queue_shrink};

/* KEYS: data, marker, hash, wake. ARGV: marker value, mode (MT__RQ_*),
 * maxsize, maxmsg, joinable, idle. Answers {code, maxsize, maxmsg,
 * joinable, idle}: code 1 made, 0 opened, or an error code. */
const char mt__rscript_queue_open[] =
    "#!lua\n"
    "local data, mark, meta, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "local tag, mode = ARGV[1], ARGV[2]\n"
    "local m = redis.pcall('GET', mark)\n"
    "if type(m) == 'table' then return {-6} end\n"
    "if not m then\n"
    "  if redis.call('EXISTS', data, meta, wake) > 0 then return {-6} end\n"
    "  if mode == '2' then return {-5} end\n"
    "  redis.call('XGROUP', 'CREATE', data, 'g', '$', 'MKSTREAM')\n"
    "  redis.call('HSET', meta, 'maxsize', ARGV[3], 'maxmsg', ARGV[4], 'joinable', ARGV[5],\n"
    "             'idle', ARGV[6], 'closed', '0', 'cur', '0-0')\n"
    "  redis.call('SET', mark, tag)\n"
    "  return {1, ARGV[3], ARGV[4], ARGV[5], ARGV[6]}\n"
    "end\n"
    "if m ~= tag then\n"
    "  if string.sub(m, 1, 10) ~= 'multitask:' then return {-6} end\n"
    "  return {mode == '1' and -11 or -5}\n"
    "end\n"
    "if redis.call('TYPE', data)['ok'] ~= 'stream' or redis.call('TYPE', meta)['ok'] ~= 'hash'\n"
    "   or string.find('none stream', redis.call('TYPE', wake)['ok'], 1, true) == nil then\n"
    "  return {-6}\n"
    "end\n"
    "if mode == '1' then return {-11} end\n"
    "local v = redis.call('HMGET', meta, 'maxsize', 'maxmsg', 'joinable', 'idle')\n"
    "return {0, v[1], v[2], v[3], v[4]}\n";

/* KEYS: data, marker, hash, wake. ARGV: marker value. Removes the four
 * keys of a queue: 0, or -5 (no queue there), -6 (not ours). */
const char mt__rscript_queue_unlink[] =
    "#!lua flags=allow-oom\n"
    "local m = redis.pcall('GET', KEYS[2])\n"
    "if type(m) == 'table' then return -6 end\n"
    "if not m then return redis.call('EXISTS', KEYS[1]) == 1 and -6 or -5 end\n"
    "if m ~= ARGV[1] then return string.sub(m, 1, 10) == 'multitask:' and -5 or -6 end\n"
    "local want = {'stream', 'hash', 'stream'}\n"
    "for k = 1, 3 do\n"
    "  local t = redis.call('TYPE', KEYS[k == 1 and 1 or k + 1])['ok']\n"
    "  if t ~= 'none' and t ~= want[k] then return -6 end\n"
    "end\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])\n"
    "return 0\n";
