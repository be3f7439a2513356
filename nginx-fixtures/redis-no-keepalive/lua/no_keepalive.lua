-- FAULTY ON PURPOSE: /count forgets set_keepalive (see server.conf); /value pools as it should.
local redis = require "resty.redis"

local _M = {}

local REDIS_HOST = os.getenv("REDIS_HOST") or "127.0.0.1"
local REDIS_PORT = tonumber(os.getenv("REDIS_PORT") or "6379")

local function connect()
    local red = redis:new()
    red:set_timeout(1000)
    local ok, err = red:connect(REDIS_HOST, REDIS_PORT)
    if not ok then
        ngx.log(ngx.ERR, "failed to connect redis: ", err)
        return nil
    end
    return red
end

function _M.count()
    local key = "counter:" .. (ngx.var.arg_key or "default")
    local red = connect()
    if not red then
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    local count, err = red:incr(key)
    if not count then
        ngx.log(ngx.ERR, "failed to incr ", key, ": ", err)
        red:close()
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    -- The bug: no red:set_keepalive() here. Nothing leaks (ngx_lua closes the socket when the
    -- request ends), but every request opens a new connection to Redis.
    ngx.say(count)
end

function _M.value_length()
    local key = ngx.var.arg_key or "value"
    local red = connect()
    if not red then
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    local value, err = red:get(key)
    if not value then
        ngx.log(ngx.ERR, "failed to get ", key, ": ", err)
        red:close()
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    local ok, pool_err = red:set_keepalive(10000, 32)
    if not ok then
        ngx.log(ngx.ERR, "failed to put redis connection in the pool: ", pool_err)
    end
    ngx.say(value == ngx.null and 0 or #value)
end

return _M
