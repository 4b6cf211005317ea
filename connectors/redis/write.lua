-- One write of the Redis connector, atomic in the target. ARGV[1] is JSON:
--   {"fn": function, "changes": [[key, seq], ...],
--    "ops": [{"k": target key, "d": delete?, "set": [f, v, ...], "del": [f, ...]}, ...]}
-- It returns {'stale', {key@seq, ...}} when a change is not newer than the
-- last applied for its key, {'wrongtype', key, type} when a target key is
-- not a hash (both before anything is written), else {'ok'}.
local p = cjson.decode(ARGV[1])
local applied = 'jetsync:applied:' .. p.fn
local stale = {}
for _, c in ipairs(p.changes) do
  local cur = tonumber(redis.call('HGET', applied, c[1]) or '0')
  if c[2] <= cur then
    stale[#stale + 1] = c[1] .. '@' .. string.format('%d', c[2])
  end
end
if #stale > 0 then
  return {'stale', stale}
end
for _, op in ipairs(p.ops) do
  local t = redis.call('TYPE', op.k)['ok']
  if t ~= 'none' and t ~= 'hash' then
    return {'wrongtype', op.k, t}
  end
end
for _, op in ipairs(p.ops) do
  if op.d then
    redis.call('DEL', op.k)
  else
    if #op.set > 0 then
      redis.call('HSET', op.k, unpack(op.set))
    end
    if #op.del > 0 then
      redis.call('HDEL', op.k, unpack(op.del))
    end
  end
end
local top = 0
for _, c in ipairs(p.changes) do
  redis.call('HSET', applied, c[1], string.format('%d', c[2]))
  if c[2] > top then
    top = c[2]
  end
end
if top > 0 then
  local cp = tonumber(redis.call('HGET', 'jetsync:checkpoints', p.fn) or '0')
  if top > cp then
    redis.call('HSET', 'jetsync:checkpoints', p.fn, string.format('%d', top))
  end
end
return {'ok'}
