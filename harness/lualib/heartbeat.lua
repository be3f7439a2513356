-- openresty-harness heartbeat. Each worker stamps, every 10 ms, the time at which its event loop
-- last got round to its timers. A stamp newer than a moment T proves the worker finished whatever
-- it was doing at T (a log phase, say), which lets the harness settle error.log checks without
-- fixed sleeps. Started from the generated init_worker_by_lua; a fixture with its own
-- init_worker_by_lua adds: dofile("${HARNESS_LUALIB}/heartbeat.lua").start()
local _M = {}

local PERIOD = 0.01

-- The harness's own Lua is never JIT-compiled: its traces would show up in the output of jit.v /
-- jit.dump that the code under test turns on (lua-resty-core's test suite checks that output).
if jit then
    jit.off(true, true)
end

local function beat(premature, dict, key)
    if premature then
        return
    end
    -- at debug level this names the timer's fake connection, so readers can drop the heartbeat's lines
    ngx.log(ngx.DEBUG, "harness heartbeat")
    ngx.update_time()
    dict:set(key, ngx.now())
end

function _M.start()
    local dict = ngx.shared.harness_control
    local id = ngx.worker.id()
    if not dict or not id then
        ngx.log(ngx.WARN, "harness heartbeat not started: no lua_shared_dict harness_control or no worker id")
        return
    end
    local key = "hb:" .. id
    dict:set(key, ngx.now())
    dict:set("pid:" .. id, ngx.worker.pid())
    local ok, err = ngx.timer.every(PERIOD, beat, dict, key)
    if not ok then
        ngx.log(ngx.ERR, "harness heartbeat timer failed: ", err)
    end
end

return _M
