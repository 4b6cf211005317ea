#!lua name=jetsync

-- jetsync's Redis function library (loaded by the bridge with FUNCTION LOAD
-- REPLACE). Applications call these instead of the plain commands for the
-- prefixes in journal mode:
--
--   FCALL jetsync_hset 1 person:5 first_name Marek age 27
--   FCALL jetsync_hdel 1 person:5 age
--   FCALL jetsync_hincrby 1 person:5 age 1
--   FCALL jetsync_set 1 settings:5 '{"theme":"dark"}'   (json and string prefixes)
--   FCALL jetsync_del 2 person:5 person:6
--
-- Each one changes the key and, atomically with it, appends the key to the
-- journal stream of its prefix (jetsync:journal:<prefix>). The bridge reads
-- the journal with a consumer group and deletes an entry only after the
-- change it caused is stored in JetStream, so writes and deletes made while
-- no bridge runs are not lost. The journal is capped at about a million
-- entries per prefix. Journal mode needs a standalone (or Sentinel) Redis:
-- in a cluster the journal stream would live in another slot than the key.

local function journal(key)
  local prefix = string.match(key, '^([^:]+):')
  if prefix == nil then
    return
  end
  local op = 'write'
  if redis.call('EXISTS', key) == 0 then
    op = 'del'
  end
  redis.call('XADD', 'jetsync:journal:' .. prefix, 'MAXLEN', '~', '1000000', '*', 'key', key, 'op', op)
end

local function one_key(keys, name)
  if #keys ~= 1 then
    return redis.error_reply('ERR ' .. name .. ' takes exactly one key')
  end
  return nil
end

redis.register_function('jetsync_hset', function(keys, args)
  local bad = one_key(keys, 'jetsync_hset')
  if bad then return bad end
  local n = redis.call('HSET', keys[1], unpack(args))
  journal(keys[1])
  return n
end)

redis.register_function('jetsync_hdel', function(keys, args)
  local bad = one_key(keys, 'jetsync_hdel')
  if bad then return bad end
  local n = redis.call('HDEL', keys[1], unpack(args))
  journal(keys[1])
  return n
end)

redis.register_function('jetsync_hincrby', function(keys, args)
  local bad = one_key(keys, 'jetsync_hincrby')
  if bad then return bad end
  local n = redis.call('HINCRBY', keys[1], args[1], args[2])
  journal(keys[1])
  return n
end)

redis.register_function('jetsync_set', function(keys, args)
  local bad = one_key(keys, 'jetsync_set')
  if bad then return bad end
  local r = redis.call('SET', keys[1], unpack(args))
  journal(keys[1])
  return r
end)

redis.register_function('jetsync_del', function(keys, args)
  local n = 0
  for _, key in ipairs(keys) do
    n = n + redis.call('DEL', key)
    journal(key)
  end
  return n
end)
