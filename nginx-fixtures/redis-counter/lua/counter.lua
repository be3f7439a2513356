-- Counter backed by Redis INCR, with pooled connections (set_keepalive).
local redis = require "resty.redis"

local _M = {}

local REDIS_HOST = os.getenv("REDIS_HOST") or "127.0.0.1"
local REDIS_PORT = tonumber(os.getenv("REDIS_PORT") or "6379")
local TIMEOUT_MS = 1000
local POOL_IDLE_MS = 10000
local POOL_SIZE = 32

local function connect()
    local red = redis:new()
    -- set_timeout, not set_timeouts: Debian's lua-resty-redis 0.27 lacks the latter, and the
    -- client turns unknown methods into Redis commands.
    red:set_timeout(TIMEOUT_MS)
    local ok, err = red:connect(REDIS_HOST, REDIS_PORT)
    if not ok then
        ngx.log(ngx.ERR, "failed to connect redis: ", err)
        return nil
    end
    return red
end

local function pool(red)
    local ok, err = red:set_keepalive(POOL_IDLE_MS, POOL_SIZE)
    if not ok then
        ngx.log(ngx.ERR, "failed to put redis connection in the pool: ", err)
    end
end

function _M.handle()
    local key = "counter:" .. (ngx.var.arg_key or "default")
    local red = connect()
    if not red then
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end

    local reused = red:get_reused_times()

    local count, incr_err = red:incr(key)
    if not count then
        ngx.log(ngx.ERR, "failed to incr ", key, ": ", incr_err)
        red:close()
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end

    pool(red)
    ngx.header["X-Redis-Reused"] = reused
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
    pool(red)
    ngx.say(value == ngx.null and 0 or #value)
end

return _M
