-- DELIBERATELY FAULTY (catalogue: a Cluster client that ignores MOVED). Talks to the first seed
-- node only, as if the cluster were one Redis: a "MOVED slot ip:port" or "ASK ..." error reply is
-- returned as a failure instead of being followed. Errors are checked; the fault is the missing
-- redirection. Compare nginx-fixtures/redis-cluster.
local redis = require "resty.redis"

local _M = {}

local SEED_HOST, SEED_PORT = (os.getenv("REDIS_CLUSTER_NODES") or ""):match("^([^,:]+):(%d+)")

local function run(cmd, key, ...)
    local red = redis:new()
    red:set_timeout(500)
    local ok, err = red:connect(SEED_HOST, tonumber(SEED_PORT))
    if not ok then
        return nil, "connect: " .. err
    end
    local res, cmd_err = red[cmd](red, key, ...)
    if res == nil then
        red:close()
        return nil, cmd_err
    end
    local pooled, pool_err = red:set_keepalive(10000, 16)
    if not pooled then
        ngx.log(ngx.ERR, "failed to put a redis connection in the pool: ", pool_err)
    end
    if res == false then  -- MOVED / ASK included: not followed (the fault)
        return nil, cmd_err
    end
    return res
end

_M.command = run  -- served at /set and /get by kv_endpoint.lua

return _M
