-- openresty-harness control server (its own port, never the fixture's):
--   /__harness/ready                   which config generation answers, worker pid, versions
--   /__harness/log?since=N&settle=S    error.log from byte N; with settle=S (seconds), first wait
--                                      until every worker's heartbeat is newer than this request.
--                                      A file shorter than N was rotated: it is read from byte 0.
--   /__harness/log?size=1              only the length of error.log (X-Harness-Log-End)
local dict = ngx.shared.harness_control
if jit then
    jit.off(true, true)  -- never traced (see heartbeat.lua)
end

local function ready()
    -- the workers' pids as their heartbeats last recorded them (this generation's, once each started)
    local pids = {}
    for id = 0, ngx.worker.count() - 1 do
        pids[#pids + 1] = tostring(dict and dict:get("pid:" .. id) or 0)
    end
    ngx.header["Content-Type"] = "application/json"
    ngx.say(string.format('{"generation":%d,"pid":%d,"jit":"%s","nginx":%d,"ngx_lua":%d,"workers":%d,"pids":[%s]}',
        tonumber(ngx.var.harness_generation), ngx.worker.pid(), jit and jit.version or "",
        ngx.config.nginx_version, ngx.config.ngx_lua_version, ngx.worker.count(), table.concat(pids, ",")))
end

-- Returns "yes", "no-heartbeat" (nothing to wait on), or "busy:<id>=<pid>,..." after the deadline.
local function settle(timeout)
    if not dict then
        return "no-heartbeat"
    end
    ngx.update_time()
    local start = ngx.now()
    local deadline = start + timeout
    local seen_any = false
    local this = ngx.worker.id()
    while true do
        local busy = {}
        for id = 0, ngx.worker.count() - 1 do
            local stamp = dict:get("hb:" .. id)
            if stamp and id == this then
                -- this worker runs this request, so it finished what it was doing when the
                -- request was sent (one thread per worker): no need to wait for its next beat
                seen_any = true
            elseif stamp then
                seen_any = true
                if stamp <= start then
                    busy[#busy + 1] = id .. "=" .. tostring(dict:get("pid:" .. id))
                end
            end
        end
        if not seen_any then
            return "no-heartbeat"
        end
        if #busy == 0 then
            return "yes"
        end
        ngx.update_time()
        if ngx.now() >= deadline then
            return "busy:" .. table.concat(busy, ",")
        end
        ngx.sleep(0.002)
    end
end

local function log()
    local args = ngx.req.get_uri_args()
    local since = tonumber(args.since) or 0
    local wait = tonumber(args.settle)
    if wait then
        ngx.header["X-Harness-Settled"] = settle(wait)
    end
    local f, err = io.open(ngx.var.harness_error_log, "rb")
    if not f then
        ngx.status = 500
        ngx.say("cannot open error.log: ", err)
        return
    end
    local size = f:seek("end")
    if args.size then
        f:close()
        ngx.header["X-Harness-Log-End"] = size
        return
    end
    if since > size then
        -- the file is shorter than the cursor: it was rotated (USR1) or truncated; read it all
        ngx.header["X-Harness-Log-Rotated"] = "1"
        since = 0
    end
    f:seek("set", since)
    local data = f:read(size - since) or ""
    f:close()
    ngx.header["Content-Type"] = "text/plain"
    ngx.header["X-Harness-Log-From"] = since
    ngx.header["X-Harness-Log-End"] = since + #data
    ngx.print(data)
end

local uri = ngx.var.uri
if uri == "/__harness/ready" then
    return ready()
elseif uri == "/__harness/log" then
    return log()
end
ngx.exit(ngx.HTTP_NOT_FOUND)
