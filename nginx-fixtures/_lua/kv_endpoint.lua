-- The /set and /get endpoints the Redis topology fixtures share (redis-sentinel, redis-cluster and
-- their deliberately faulty twins, each linking this file into its lua/): each fixture passes its own
-- `command(cmd, key, ...)`, which returns the reply, or nil and an error.
local _M = {}

-- GET /set?key=K&value=V (answers OK) or GET /get?key=K (the value, "nil" if unset)
function _M.handle(command)
    local key, value = ngx.var.arg_key, ngx.var.arg_value
    local writing = ngx.var.uri == "/set"
    if not key or (writing and not value) then
        return ngx.exit(ngx.HTTP_BAD_REQUEST)
    end
    local res, err
    if writing then
        res, err = command("set", key, value)
    else
        res, err = command("get", key)
    end
    if res == nil then
        ngx.log(ngx.ERR, "failed to ", writing and "set " or "get ", key, ": ", err)
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    ngx.say(res == ngx.null and "nil" or res)
end

return _M
