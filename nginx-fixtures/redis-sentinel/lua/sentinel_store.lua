-- Reads and writes at the master Sentinel names now. Each request asks the Sentinels in turn
-- (SENTINEL get-master-addr-by-name over a pooled cosocket) and connects to the address named:
-- after a failover the next request goes to the promoted replica. Every error is checked.
local redis = require "resty.redis"

local _M = {}

local MASTER_NAME = os.getenv("REDIS_MASTER_NAME") or "mymaster"
local TIMEOUT_MS = 500
local POOL_IDLE_MS, POOL_SIZE = 10000, 16

local SENTINELS = {}
for host, port in (os.getenv("REDIS_SENTINELS") or ""):gmatch("([^,]+):(%d+)") do
    SENTINELS[#SENTINELS + 1] = { host = host, port = tonumber(port) }
end

local function pool(red)
    local ok, err = red:set_keepalive(POOL_IDLE_MS, POOL_SIZE)
    if not ok then
        ngx.log(ngx.ERR, "failed to put a redis connection in the pool: ", err)
    end
end

-- the master's address, from the first Sentinel that answers
local function master_addr()
    local last_err = "no sentinel in REDIS_SENTINELS"
    for _, sentinel in ipairs(SENTINELS) do
        local red = redis:new()
        red:set_timeout(TIMEOUT_MS)
        local ok, err = red:connect(sentinel.host, sentinel.port)
        if ok then
            local addr, query_err = red:sentinel("get-master-addr-by-name", MASTER_NAME)
            if type(addr) == "table" then
                pool(red)
                return addr[1], tonumber(addr[2])
            end
            red:close()
            last_err = "sentinel " .. sentinel.host .. ": " .. tostring(query_err or "no such master")
        else
            last_err = "sentinel " .. sentinel.host .. ": " .. err
        end
    end
    return nil, nil, last_err
end

-- run `cmd key ...` at the master Sentinel names now; the reply, or nil and an error
local function command(cmd, key, ...)
    local host, port, err = master_addr()
    if not host then
        return nil, err
    end
    local red = redis:new()
    red:set_timeout(TIMEOUT_MS)
    local ok, connect_err = red:connect(host, port)
    if not ok then
        return nil, "master " .. host .. ":" .. port .. ": " .. connect_err
    end
    local res, cmd_err = red[cmd](red, key, ...)
    if not res then  -- a failed connection, or an error reply (READONLY...): not pooled
        red:close()
        return nil, cmd_err
    end
    pool(red)
    return res
end

_M.command = command  -- served at /set and /get by kv_endpoint.lua

return _M
