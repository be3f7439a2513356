-- A Redis Cluster client in a few lines: the key's slot (CRC16 of the key or its {hash tag}, mod
-- 16384) picks the node learnt for it, else a seed; a MOVED reply updates the slot's node and
-- retries there, an ASK reply retries once at the named node after ASKING; a node that does not
-- answer is forgotten for the slot and the next seed is asked (it redirects once the cluster has
-- promoted a replica). Every error checked.
local redis = require "resty.redis"
local bit = require "bit"

local band, bxor, lshift = bit.band, bit.bxor, bit.lshift

local _M = {}

local TIMEOUT_MS = 500
local MAX_ATTEMPTS = 4

local SEEDS = {}
for addr in (os.getenv("REDIS_CLUSTER_NODES") or ""):gmatch("[^,]+") do
    SEEDS[#SEEDS + 1] = addr
end

local slot_nodes = {}  -- slot -> "ip:port", learnt from MOVED (per worker)
local next_seed = 1

local function seed()  -- the seeds in turn
    local addr = SEEDS[next_seed]
    next_seed = next_seed % #SEEDS + 1
    return addr
end

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
    local addr = slot_nodes[slot] or seed()
    local asking = false
    local last_err
    for _ = 1, MAX_ATTEMPTS do
        local host, port = addr:match("^(.+):(%d+)$")
        local red = redis:new()
        red:set_timeout(TIMEOUT_MS)
        local ok, err = red:connect(host, tonumber(port))
        local res, cmd_err
        if ok and asking then
            ok, err = red:asking()
        end
        if ok then
            res, cmd_err = red[cmd](red, key, ...)
        else
            cmd_err = err
        end
        if res == nil then  -- no answer: forget the node for this slot, ask the next seed
            if ok then
                red:close()
            end
            last_err = addr .. ": " .. tostring(cmd_err)
            slot_nodes[slot] = nil
            addr, asking = seed(), false
        else
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
            last_err = cmd_err
        end
    end
    return nil, "no answer for " .. key .. " after " .. MAX_ATTEMPTS .. " attempts, last: " .. tostring(last_err)
end

_M.command = command  -- served at /set and /get by kv_endpoint.lua

return _M
