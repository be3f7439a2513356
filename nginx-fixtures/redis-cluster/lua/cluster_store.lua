-- A Redis Cluster client in a few lines: the key's slot (CRC16 of the key or its {hash tag}, mod
-- 16384) picks the node learnt for it, else the first seed; a MOVED reply updates the slot's node
-- and retries there, an ASK reply retries once at the named node after ASKING. Every error checked.
local redis = require "resty.redis"
local bit = require "bit"

local band, bxor, lshift = bit.band, bit.bxor, bit.lshift

local _M = {}

local TIMEOUT_MS = 500
local MAX_REDIRECTS = 3
local SEED = (os.getenv("REDIS_CLUSTER_NODES") or ""):match("^[^,]+")

local slot_nodes = {}  -- slot -> "ip:port", learnt from MOVED (per worker)

local function crc16(s)  -- CRC16-CCITT (XMODEM), as Redis Cluster uses
    local crc = 0
    for i = 1, #s do
        crc = bxor(crc, lshift(s:byte(i), 8))
        for _ = 1, 8 do
            if band(crc, 0x8000) ~= 0 then
                crc = band(bxor(lshift(crc, 1), 0x1021), 0xffff)
            else
                crc = band(lshift(crc, 1), 0xffff)
            end
        end
    end
    return crc
end

local function key_slot(key)
    local open = key:find("{", 1, true)
    if open then
        local close = key:find("}", open + 1, true)
        if close and close > open + 1 then
            key = key:sub(open + 1, close - 1)
        end
    end
    return crc16(key) % 16384
end

local function pool(red)
    local ok, err = red:set_keepalive(10000, 16)
    if not ok then
        ngx.log(ngx.ERR, "failed to put a redis connection in the pool: ", err)
    end
end

-- run `cmd key ...` at the node serving key; returns the reply, or nil and an error
local function command(cmd, key, ...)
    local slot = key_slot(key)
    local addr = slot_nodes[slot] or SEED
    local asking = false
    for _ = 0, MAX_REDIRECTS do
        local host, port = addr:match("^(.+):(%d+)$")
        local red = redis:new()
        red:set_timeout(TIMEOUT_MS)
        local ok, err = red:connect(host, tonumber(port))
        if not ok then
            return nil, addr .. ": " .. err
        end
        if asking then
            local asked, ask_err = red:asking()
            if not asked then
                red:close()
                return nil, "ASKING at " .. addr .. ": " .. tostring(ask_err)
            end
        end
        local res, cmd_err = red[cmd](red, key, ...)
        if res == nil then  -- the connection failed
            red:close()
            return nil, addr .. ": " .. tostring(cmd_err)
        end
        pool(red)
        if res ~= false then
            return res
        end
        -- an error reply: a redirection, or a real error
        local kind, target = cmd_err:match("^(%u+) %d+ (%S+)$")
        if kind == "MOVED" then
            slot_nodes[slot] = target
            addr, asking = target, false
        elseif kind == "ASK" then
            addr, asking = target, true
        else
            return nil, addr .. ": " .. cmd_err
        end
    end
    return nil, "more than " .. MAX_REDIRECTS .. " redirections for " .. key
end

-- GET /set?key=K&value=V (answers OK) or GET /get?key=K (the value, "nil" if unset)
function _M.handle()
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
