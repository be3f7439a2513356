-- Like redis-counter, but reaches Redis by host name: the cosocket asks nginx's resolver.
local redis = require "resty.redis"

local _M = {}

local REDIS_NAME = os.getenv("REDIS_NAME") or "redis.harness.test"
local REDIS_PORT = tonumber(os.getenv("REDIS_PORT") or "6379")

function _M.handle()
    local red = redis:new()
    red:set_timeout(1000)
    local ok, err = red:connect(REDIS_NAME, REDIS_PORT)
    if not ok then
        ngx.log(ngx.ERR, "failed to connect redis: ", err)
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    local count, incr_err = red:incr("counter:named")
    if not count then
        ngx.log(ngx.ERR, "failed to incr counter:named: ", incr_err)
        red:close()
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    local pooled, pool_err = red:set_keepalive(10000, 32)
    if not pooled then
        ngx.log(ngx.ERR, "failed to put redis connection in the pool: ", pool_err)
    end
    ngx.say(count)
end

return _M
