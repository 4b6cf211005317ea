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
-- no bridge runs are not lost. The journal is never trimmed: an entry
-- leaves it only when the bridge has stored its change (a bridge down for
-- long lets it grow; watch the stream's length). Journal mode needs a standalone (or Sentinel) Redis:
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
  redis.call('XADD', 'jetsync:journal:' .. prefix, '*', 'key', key, 'op', op)
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

-- Write-through (see bridge/writethrough): the write is staged, not made;
-- the bridge publishes it (merged with the key's current value), and when
-- the database has committed it, jetsync_wt_commit writes it into the key
-- and answers on jetsync:reply:<token>, which the caller reads with
-- XREAD BLOCK <ms> STREAMS jetsync:reply:<token> 0.
--
--   FCALL jetsync_write_through 1 person:5 <token> first_name Marek age 27
--   FCALL jetsync_write_through_del 1 person:5 <token>

local function stage(keys, args, op)
  local bad = one_key(keys, 'jetsync_write_through')
  if bad then return bad end
  local key, token = keys[1], args[1]
  local prefix = string.match(key, '^([^:]+):')
  if prefix == nil then
    return redis.error_reply('ERR key ' .. key .. ' is not <prefix>:<id>')
  end
  if token == nil or token == '' or #token > 64 or string.find(token, '[^%w_-]') then
    return redis.error_reply('ERR the reply token must be 1 to 64 letters, digits, _ and -')
  end
  if op == 'hset' and (#args < 3 or #args % 2 == 0) then
    return redis.error_reply('ERR jetsync_write_through takes a token and field value pairs')
  end
  local pending = 'jetsync:wt:pending:' .. token
  if redis.call('EXISTS', pending) == 1 then
    return redis.error_reply('ERR reply token ' .. token .. ' is in use')
  end
  local fields = {}
  for i = 2, #args do
    fields[#fields + 1] = args[i]
  end
  redis.call('HSET', pending, 'key', key, 'op', op, 'fields', cjson.encode(fields))
  redis.call('EXPIRE', pending, 86400)
  redis.call('XADD', 'jetsync:wt:' .. prefix, '*', 'token', token)
  return 'STAGED'
end

redis.register_function('jetsync_write_through', function(keys, args)
  return stage(keys, args, 'hset')
end)

redis.register_function('jetsync_write_through_del', function(keys, args)
  return stage(keys, args, 'del')
end)

-- FCALL jetsync_wt_commit 0 <token> done|failed [reason]: called by the
-- bridge once the database answered. done writes the staged change into the
-- key; failed leaves the key as it is. Either way the caller is answered.
redis.register_function('jetsync_wt_commit', function(keys, args)
  local token, status, reason = args[1], args[2], args[3] or ''
  local pending = 'jetsync:wt:pending:' .. token
  local staged = redis.call('HGETALL', pending)
  local w = {}
  for i = 1, #staged, 2 do
    w[staged[i]] = staged[i + 1]
  end
  if status == 'done' and w.key then
    if w.op == 'del' then
      redis.call('DEL', w.key)
    else
      local fields = cjson.decode(w.fields)
      if #fields > 0 then
        redis.call('HSET', w.key, unpack(fields))
      end
    end
  end
  redis.call('DEL', pending)
  local reply = 'jetsync:reply:' .. token
  redis.call('XADD', reply, '*', 'status', status, 'error', reason)
  redis.call('EXPIRE', reply, 600)
  return status
end)
