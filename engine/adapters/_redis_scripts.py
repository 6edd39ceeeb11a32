"""The Lua scripts of ``_redis_queue`` (key layout described there); one script per state change.

Every script takes the queue's base key name in ARGV[1] and derives per-job (``j:{id}``) and
per-group (``g:{gk}``) key names from it; that is fine on a single Redis, not on Redis Cluster.
"""

from __future__ import annotations

__all__ = ["DISCARD", "DLQ_LIST", "FINISH", "PUSH", "REDRIVE", "RESERVE", "RETRY"]

PUSH = """
local base, added = ARGV[1], 0
for i = 3, #ARGV, 7 do
  local id, nb, gk = ARGV[i], ARGV[i + 4], ARGV[i + 5]
  local jk = base .. 'j:' .. id
  if redis.call('EXISTS', jk) == 0 then
    redis.call('HSET', jk, 'body', ARGV[i + 1], 'att', ARGV[i + 2], 'err', ARGV[i + 3],
               'nb', nb, 'gk', gk, 'ea', ARGV[i + 6])
    redis.call('ZADD', base .. 'sched', nb, id)
    local gz = base .. 'g:' .. gk
    redis.call('ZADD', gz, redis.call('INCR', base .. 'seq'), id)
    if redis.call('ZCARD', gz) == 1 then redis.call('ZADD', base .. 'heads', nb, gk) end
    added = added + 1
  end
end
if added > 0 then redis.call('SADD', KEYS[1], ARGV[2]) end
return added
"""

# Shared by the scripts below: the head (oldest id) of group gk, and re-scoring it in 'heads'.
_HEAD = """
local function head(base, gk)
  return redis.call('ZRANGE', base .. 'g:' .. gk, 0, 0)[1]
end
"""

RESERVE = (
    _HEAD
    + """
local base, now, limit, untl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local out = {}
local function lease(id)
  local jk = base .. 'j:' .. id
  local att = redis.call('HINCRBY', jk, 'att', 1)
  redis.call('ZADD', base .. 'sched', untl, id)
  redis.call('ZADD', base .. 'leased', untl, id)
  local f = redis.call('HMGET', jk, 'body', 'err', 'nb', 'gk')
  if head(base, f[4]) == id then redis.call('ZADD', base .. 'heads', untl, f[4]) end
  out[#out + 1] = f[1]; out[#out + 1] = att; out[#out + 1] = f[2]; out[#out + 1] = f[3]
end
if ARGV[5] == '1' then
  for _, gk in ipairs(redis.call('ZRANGEBYSCORE', base .. 'heads', '-inf', now, 'LIMIT', 0, limit)) do
    lease(head(base, gk))
  end
else
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', base .. 'sched', '-inf', now, 'LIMIT', 0, limit)) do
    lease(id)
  end
end
return out
"""
)

FINISH = (
    _HEAD
    + """
local base, done = ARGV[1], 0
local sched, dlq = base .. 'sched', base .. 'dlq'
for i = 5, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', sched, id) then
    local jk = base .. 'j:' .. id
    local gk = redis.call('HGET', jk, 'gk')
    local was_head = head(base, gk) == id
    redis.call('ZREM', sched, id)
    redis.call('ZREM', base .. 'leased', id)
    redis.call('ZREM', base .. 'g:' .. gk, id)
    if was_head then
      local nxt = head(base, gk)
      if nxt then redis.call('ZADD', base .. 'heads', redis.call('ZSCORE', sched, nxt), gk)
      else redis.call('ZREM', base .. 'heads', gk) end
    end
    if ARGV[3] == 'dead' then
      redis.call('HSET', jk, 'err', ARGV[4])
      redis.call('ZADD', dlq, redis.call('INCR', base .. 'seq'), id)
    else
      redis.call('DEL', jk)
    end
    done = done + 1
  end
end
if redis.call('ZCARD', sched) == 0 and redis.call('ZCARD', dlq) == 0 then
  redis.call('SREM', KEYS[1], ARGV[2])
end
return done
"""
)

RETRY = (
    _HEAD
    + """
local base, id, nb = ARGV[1], ARGV[2], ARGV[3]
if not redis.call('ZSCORE', base .. 'sched', id) then return 0 end
local jk = base .. 'j:' .. id
redis.call('HSET', jk, 'nb', nb, 'err', ARGV[4])
redis.call('ZADD', base .. 'sched', nb, id)
redis.call('ZREM', base .. 'leased', id)
local gk = redis.call('HGET', jk, 'gk')
if head(base, gk) == id then redis.call('ZADD', base .. 'heads', nb, gk) end
return 1
"""
)

REDRIVE = """
local base, dlq = ARGV[1], ARGV[1] .. 'dlq'
local ids = {ARGV[2]}
if ARGV[2] == '' then ids = redis.call('ZRANGE', dlq, 0, -1) end
local moved = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', dlq, id) == 1 then
    local jk = base .. 'j:' .. id
    local f = redis.call('HMGET', jk, 'gk', 'ea')
    redis.call('HSET', jk, 'att', 0, 'nb', f[2])
    redis.call('ZADD', base .. 'sched', f[2], id)
    local gz = base .. 'g:' .. f[1]
    redis.call('ZADD', gz, redis.call('INCR', base .. 'seq'), id)
    if redis.call('ZCARD', gz) == 1 then redis.call('ZADD', base .. 'heads', f[2], f[1]) end
    moved = moved + 1
  end
end
return moved
"""

DISCARD = """
local base, dlq = ARGV[1], ARGV[1] .. 'dlq'
if redis.call('ZREM', dlq, ARGV[3]) == 0 then return 0 end
redis.call('DEL', base .. 'j:' .. ARGV[3])
if redis.call('ZCARD', base .. 'sched') == 0 and redis.call('ZCARD', dlq) == 0 then
  redis.call('SREM', KEYS[1], ARGV[2])
end
return 1
"""

DLQ_LIST = """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', ARGV[1] .. 'dlq', 0, tonumber(ARGV[2]) - 1)) do
  for _, v in ipairs(redis.call('HMGET', ARGV[1] .. 'j:' .. id, 'body', 'att', 'err', 'nb')) do
    out[#out + 1] = v
  end
end
return out
"""
