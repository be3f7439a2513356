-- DELIBERATELY FAULTY (catalogue: a client that caches the master's address forever). The first
-- request of each worker asks the first Sentinel for the master and keeps the answer in a module
-- variable; nothing ever asks again, so after a failover every request goes to the old master
-- (timeouts while it is down, READONLY once it is back as a replica). Errors are still checked:
-- the fault is the cache, not sloppiness. Compare nginx-fixtures/redis-sentinel.
local redis = require "resty.redis"

local _M = {}

local MASTER_NAME = os.getenv("REDIS_MASTER_NAME") or "mymaster"
local FIRST_SENTINEL = (os.getenv("REDIS_SENTINELS") or ""):match("^[^,]+") or ""
local TIMEOUT_MS = 500

local cached  -- { host, port }: set once, never refreshed (the fault)

local function connect(host, port)
    local red = redis:new()
    red:set_timeout(TIMEOUT_MS)
    local ok, err = red:connect(host, port)
    if not ok then
        return nil, host .. ":" .. port .. ": " .. err
    end
    return red
end

local function master()
    if not cached then
        local host, port = FIRST_SENTINEL:match("^(.+):(%d+)$")
        local sentinel, err = connect(host, tonumber(port))
        if not sentinel then
            return nil, "sentinel " .. err
        end
        local addr, query_err = sentinel:sentinel("get-master-addr-by-name", MASTER_NAME)
        sentinel:close()
        if type(addr) ~= "table" then
            return nil, "sentinel: " .. tostring(query_err or "no such master")
        end
        cached = { addr[1], tonumber(addr[2]) }
    end
    return connect(cached[1], cached[2])
end

-- run `cmd key ...` at the cached master; the reply, or nil and an error
local function command(cmd, key, ...)
    local red, err = master()
    if not red then
        return nil, err
    end
    local res, cmd_err = red[cmd](red, key, ...)
    if not res then
        red:close()
        return nil, cmd_err
    end
    local ok, pool_err = red:set_keepalive(10000, 16)
    if not ok then
        ngx.log(ngx.ERR, "failed to put a redis connection in the pool: ", pool_err)
    end
    return res
end

_M.command = command  -- served at /set and /get by kv_endpoint.lua

return _M
