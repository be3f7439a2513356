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

local function master()
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
    return red
end

local function fail(red, what, err)
    ngx.log(ngx.ERR, what, ": ", err)
    if red then
        red:close()
    end
    return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
end

function _M.set()
    local key, value = ngx.var.arg_key, ngx.var.arg_value
    if not key or not value then
        return ngx.exit(ngx.HTTP_BAD_REQUEST)
    end
    local red, err = master()
    if not red then
        return fail(nil, "failed to reach the redis master", err)
    end
    local ok, set_err = red:set(key, value)
    if not ok then
        return fail(red, "failed to set " .. key, set_err)
    end
    pool(red)
    ngx.say("OK")
end

function _M.get()
    local key = ngx.var.arg_key
    if not key then
        return ngx.exit(ngx.HTTP_BAD_REQUEST)
    end
    local red, err = master()
    if not red then
        return fail(nil, "failed to reach the redis master", err)
    end
    local value, get_err = red:get(key)
    if not value then
        return fail(red, "failed to get " .. key, get_err)
    end
    pool(red)
    ngx.say(value == ngx.null and "nil" or value)
end

return _M
