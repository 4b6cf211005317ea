#!lua name=jetsync

-- jetsync's Redis function library. The bridge loads it (FUNCTION LOAD
-- REPLACE) when jetsync_library_version does not answer its own version;
-- an administrator can load it instead (jetsync-bridge library prints it),
-- so that the bridge's user needs no FUNCTION right. Applications call
-- these instead of the plain commands for the prefixes in journal mode:
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

-- The version of this code (a hash of it, filled in by the bridge).
redis.register_function{function_name = 'jetsync_library_version', flags = {'no-writes'},
  callback = function() return '@VERSION@' end}

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

-- rgsync_ack writes rgsync's acknowledgement of token, if it has one: the
-- stream {<key>}<id> recorded when the operation was read or staged.
-- owns reports whether key is of prefix (an empty prefix: any key): the
-- bridge passes the prefix of the function that answered.
local function owns(key, prefix)
  return prefix == nil or prefix == '' or string.sub(key, 1, #prefix + 1) == prefix .. ':'
end

local function rgsync_ack(token, status, reason, prefix)
  local ref = 'jetsync:rgsync:ack:' .. token
  local stream = redis.call('GET', ref)
  if stream and not owns(string.match(stream, '^{(.*)}') or '', prefix) then
    return 'NOTYOURS'
  end
  if stream then
    if status == 'done' then
      redis.call('XADD', stream, '*', 'status', 'done')
    else
      redis.call('XADD', stream, '*', 'status', 'failed', 'error', reason)
    end
    redis.call('EXPIRE', stream, 3600)
    redis.call('DEL', ref)
  end
  return status
end

-- FCALL jetsync_wt_commit 0 <token> done|failed [reason [prefix]]: called
-- by the bridge once the database answered. done writes the staged change
-- into the key; failed leaves the key as it is. Either way the caller is
-- answered. A staged key not of prefix (the answering function's) is left
-- alone: NOTYOURS.
redis.register_function('jetsync_wt_commit', function(keys, args)
  local token, status, reason, prefix = args[1], args[2], args[3] or '', args[4]
  local pending = 'jetsync:wt:pending:' .. token
  local staged = redis.call('HGETALL', pending)
  local w = {}
  for i = 1, #staged, 2 do
    w[staged[i]] = staged[i + 1]
  end
  if w.key and not owns(w.key, prefix) then
    return 'NOTYOURS'
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
  rgsync_ack(token, status, reason, prefix)
  return status
end)

-- rgsync's in-band protocol, for the prefixes in JETSYNC_RGSYNC: a hash
-- field '#' holds the write's operation, '=' (replicate), '~' (delete the
-- key and replicate the delete), '+' (keep in Redis only) or '-' (delete in
-- Redis only), each optionally followed by an id that is acknowledged on
-- the stream {<key>}<id> (status done, or failed with error), as rgsync
-- does, kept 3600 s. Three keys per key: the key, its marker
-- (jetsync:rgsync:<key>: what the last operation kept local, '+' a digest
-- of the hash, '~' and '-' deleted, so that the notifications of these
-- changes and later reads of the same state publish nothing) and its
-- tokens (jetsync:rgsync:tokens:<key>: the reply tokens of the '=' and '~'
-- ids taken since the last read, answered after the function's commit).

local function rgsync_digest(h)
  local pairs_ = {}
  for i = 1, #h, 2 do
    pairs_[#pairs_ + 1] = h[i] .. '\0' .. h[i + 1]
  end
  table.sort(pairs_)
  return redis.sha1hex(table.concat(pairs_, '\0'))
end

local function rgsync_ack_now(key, id)
  if id ~= '' then
    local stream = '{' .. key .. '}' .. id
    redis.call('XADD', stream, '*', 'status', 'done')
    redis.call('EXPIRE', stream, 3600)
  end
end

-- rgsync_take takes the operation out of the key's '#' and applies it in
-- Redis; it returns the operation's first character, '' when there was
-- none, or '!' and the value when it is not an rgsync operation (then '#'
-- stays, and the read dead-letters the key).
local function rgsync_take(key, marker, tokens)
  if redis.call('TYPE', key)['ok'] ~= 'hash' then
    return ''
  end
  local op = redis.call('HGET', key, '#')
  if not op then
    return ''
  end
  local kind, id = string.sub(op, 1, 1), string.sub(op, 2)
  if kind ~= '=' and kind ~= '~' and kind ~= '+' and kind ~= '-' then
    return '!' .. op
  end
  redis.call('HDEL', key, '#')
  if id ~= '' and (kind == '=' or kind == '~') then
    local token = 'rg-' .. redis.sha1hex(key .. '\0' .. id)
    redis.call('SET', 'jetsync:rgsync:ack:' .. token, '{' .. key .. '}' .. id, 'EX', 86400)
    redis.call('RPUSH', tokens, token)
  end
  if kind == '~' or kind == '-' then
    redis.call('DEL', key)
    if kind == '-' then
      redis.call('SET', marker, 'deleted', 'EX', 3600)
      rgsync_ack_now(key, id)
    else
      redis.call('DEL', marker)
    end
  elseif kind == '+' then
    local h = redis.call('HGETALL', key)
    if #h == 0 then
      redis.call('SET', marker, 'deleted', 'EX', 3600)
    else
      redis.call('SET', marker, rgsync_digest(h))
    end
    rgsync_ack_now(key, id)
  else
    redis.call('DEL', marker)
  end
  return kind
end

-- FCALL jetsync_rgsync_take 3 <key> <marker> <tokens>: the bridge's
-- subscriber calls it at each write notification of such a key, so that
-- each write's operation is taken before the next write replaces it.
redis.register_function('jetsync_rgsync_take', function(keys, args)
  return rgsync_take(keys[1], keys[2], keys[3])
end)

-- FCALL jetsync_rgsync_read 3 <key> <marker> <tokens>: the bridge's read of
-- such a key. It takes an operation still in '#', then returns one of:
--   {'skip'}                        nothing to publish
--   {'gone', {token...}}            no key (a delete if tokens or an event say so)
--   {'type', <type>}                not a hash
--   {'hash', {token...}, {f, v...}} the hash to publish
--   {'bad', <op>}                   '#' is not an rgsync operation
redis.register_function('jetsync_rgsync_read', function(keys, args)
  local key, marker, tokens = keys[1], keys[2], keys[3]
  local taken = rgsync_take(key, marker, tokens)
  if string.sub(taken, 1, 1) == '!' then
    return {'bad', string.sub(taken, 2)}
  end
  local answer = redis.call('LRANGE', tokens, 0, -1)
  redis.call('DEL', tokens)
  local t = redis.call('TYPE', key)['ok']
  if t == 'none' then
    if #answer == 0 and redis.call('GET', marker) == 'deleted' then
      return {'skip'}
    end
    return {'gone', answer}
  end
  if t ~= 'hash' then
    return {'type', t}
  end
  local h = redis.call('HGETALL', key)
  if #answer == 0 and redis.call('GET', marker) == rgsync_digest(h) then
    return {'skip'}
  end
  redis.call('DEL', marker)
  return {'hash', answer, h}
end)

-- FCALL jetsync_rgsync_ack 0 <token> done|failed [reason [prefix]]: called by the
-- bridge once a function answered a change read by jetsync_rgsync_read:
-- writes rgsync's acknowledgement to {<key>}<id>.
redis.register_function('jetsync_rgsync_ack', function(keys, args)
  return rgsync_ack(args[1], args[2], args[3] or '', args[4])
end)

-- FCALL jetsync_rgsync_stage 1 __{<key>}: rgsync's write-through form. The
-- application wrote the hash __{<key>} (fields, and '#' = '=' or '~' with an
-- optional id); the bridge calls this at the notification: it takes the
-- hash (deleting it) and stages it as a write-through call on <key>
-- (jetsync_write_through, or _del for '~'), whose completion also
-- acknowledges {<key>}<id>. Another operation is acknowledged failed.
redis.register_function('jetsync_rgsync_stage', function(keys, args)
  local temp = keys[1]
  local key = string.match(temp, '^__{(.+)}$')
  if key == nil then
    return redis.error_reply('ERR ' .. temp .. ' is not __{<key>}')
  end
  local h = redis.call('HGETALL', temp)
  if #h == 0 then
    return 'EMPTY'
  end
  redis.call('DEL', temp)
  local op, id, fields = '=', '', {}
  for i = 1, #h, 2 do
    if h[i] == '#' then
      op, id = string.sub(h[i + 1], 1, 1), string.sub(h[i + 1], 2)
    else
      fields[#fields + 1] = h[i]
      fields[#fields + 1] = h[i + 1]
    end
  end
  if op ~= '=' and op ~= '~' then
    if id ~= '' then
      local stream = '{' .. key .. '}' .. id
      redis.call('XADD', stream, '*', 'status', 'failed', 'error', 'write-through takes # = or ~, not ' .. op)
      redis.call('EXPIRE', stream, 3600)
    end
    return 'BADOP'
  end
  local token = 'rgwt-' .. redis.sha1hex(key .. '\0' .. id .. '\0' .. redis.call('INCR', 'jetsync:rgsync:calls'))
  local args_ = {token}
  local kind = 'del'
  if op == '=' then
    kind = 'hset'
    for _, v in ipairs(fields) do
      args_[#args_ + 1] = v
    end
    if #fields == 0 then
      return 'EMPTY'
    end
  end
  local staged = stage({key}, args_, kind)
  if type(staged) == 'table' and staged.err then
    return staged
  end
  if id ~= '' then
    redis.call('SET', 'jetsync:rgsync:ack:' .. token, '{' .. key .. '}' .. id, 'EX', 86400)
  end
  return 'STAGED'
end)
