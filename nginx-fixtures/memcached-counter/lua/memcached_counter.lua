-- Counter in memcached, spoken in its text protocol over a cosocket, with pooled connections
-- (set_keepalive): incr, and add the first value when the key is new.
local _M = {}

local HOST = os.getenv("MEMCACHED_HOST") or "127.0.0.1"
local PORT = tonumber(os.getenv("MEMCACHED_PORT") or "11211")
local TIMEOUT_MS = 1000
local POOL_IDLE_MS = 10000
local POOL_SIZE = 32

-- One command, one reply line (incr and add answer in one line).
local function command(sock, line)
    local bytes, err = sock:send(line .. "\r\n")
    if not bytes then
        return nil, err
    end
    return sock:receive("*l")
end

local function count(sock, key)
    local reply, err = command(sock, "incr " .. key .. " 1")
    if reply ~= "NOT_FOUND" then
        return tonumber(reply), err or reply
    end
    reply, err = command(sock, "add " .. key .. " 0 0 1\r\n1")
    if reply == "STORED" then
        return 1
    end
    if reply ~= "NOT_STORED" then
        return nil, err or reply
    end
    reply, err = command(sock, "incr " .. key .. " 1")  -- another request added it meanwhile
    return tonumber(reply), err or reply
end

function _M.handle()
    local key = "counter:" .. (ngx.var.arg_key or "default")
    local sock = ngx.socket.tcp()
    sock:settimeout(TIMEOUT_MS)
    local ok, err = sock:connect(HOST, PORT)
    if not ok then
        ngx.log(ngx.ERR, "failed to connect memcached: ", err)
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    local reused = sock:getreusedtimes()

    local value, count_err = count(sock, key)
    if not value then
        ngx.log(ngx.ERR, "failed to count ", key, " in memcached: ", count_err)
        sock:close()
        return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end

    local pooled, pool_err = sock:setkeepalive(POOL_IDLE_MS, POOL_SIZE)
    if not pooled then
        ngx.log(ngx.ERR, "failed to put the memcached connection in the pool: ", pool_err)
    end
    ngx.header["X-Memcached-Reused"] = reused
    ngx.say(value)
end

return _M
