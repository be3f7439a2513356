-- FAULTY ON PURPOSE: two ways of mishandling Redis connections (see server.conf).
local redis = require "resty.redis"

local _M = {}

local REDIS_HOST = os.getenv("REDIS_HOST") or "127.0.0.1"
local REDIS_PORT = tonumber(os.getenv("REDIS_PORT") or "6379")

local function connect(options)
    local red = redis:new()
    red:set_timeout(1000)
    local ok, err = red:connect(REDIS_HOST, REDIS_PORT, options)
    if not ok then
        ngx.log(ngx.ERR, "failed to connect redis: ", err)
        return nil
    end
    return red
end

local function incr(red)
    local count, err = red:incr("counter:leaky")
    if not count then
        ngx.log(ngx.ERR, "failed to incr: ", err)
        return nil
    end
    return count
end

function _M.count_with_private_pool()
    -- The bug: a pool per request. set_keepalive succeeds, and the idle connection waits in a pool
    -- that no later request will ever ask for.
    local red = connect({ pool = "leaky:" .. ngx.var.request_id })
    if not red then
        return ngx.exit(500)
    end
    local count = incr(red)
    local ok, err = red:set_keepalive(60000, 10)
    if not ok then
        ngx.log(ngx.ERR, "failed to set keepalive: ", err)
    end
    ngx.say(count)
end

function _M.count_and_forget()
    local red = connect()
    if not red then
        return ngx.exit(500)
    end
    ngx.say(incr(red))
end

return _M
