-- Your app's Lua: every cosocket error is checked and logged, connections go back to the pool.
local redis = require "resty.redis"

local _M = {}

local REDIS_HOST = os.getenv("REDIS_HOST") or "127.0.0.1"
local REDIS_PORT = tonumber(os.getenv("REDIS_PORT") or "6379")

function _M.hello()
    ngx.say("hello, world")
end

function _M.visits()
    local red = redis:new()
    red:set_timeout(1000)  -- ms, for connect, send and read
    local ok, err = red:connect(REDIS_HOST, REDIS_PORT)
    if not ok then
        ngx.log(ngx.ERR, "failed to connect redis: ", err)
        return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
    end

    local count, incr_err = red:incr("visits")
    if not count then
        ngx.log(ngx.ERR, "failed to count the visit: ", incr_err)
        red:close()
        return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
    end

    local pooled, pool_err = red:set_keepalive(10000, 32)
    if not pooled then
        ngx.log(ngx.WARN, "failed to pool the redis connection: ", pool_err)
    end
    ngx.say(count)
end

return _M
