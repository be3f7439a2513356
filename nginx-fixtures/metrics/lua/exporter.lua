-- A minimal Prometheus exporter: a request counter by server and status, a latency histogram by
-- server, and nginx's connection gauges. State lives in lua_shared_dict prometheus_metrics, so
-- every worker's requests land in the same numbers.
local _M = {}

local BUCKETS = { 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5 }
local SEP = "\31"  -- key separator that cannot appear in label values we store

local function dict()
    local d = ngx.shared.prometheus_metrics
    if not d then
        ngx.log(ngx.ERR, "exporter: lua_shared_dict prometheus_metrics is not declared")
    end
    return d
end

local function incr(d, key, by)
    local _, err = d:incr(key, by, 0)
    if err then
        ngx.log(ngx.ERR, "exporter: cannot count ", key, ": ", err)
    end
end

function _M.observe()
    local d = dict()
    if not d then
        return
    end
    local server = ngx.var.server_name or ""
    incr(d, "requests" .. SEP .. server .. SEP .. ngx.var.status, 1)
    local seconds = tonumber(ngx.var.request_time) or 0
    for _, le in ipairs(BUCKETS) do
        if seconds <= le then
            incr(d, "bucket" .. SEP .. server .. SEP .. le, 1)
        end
    end
    incr(d, "bucket" .. SEP .. server .. SEP .. "+Inf", 1)
    incr(d, "sum" .. SEP .. server, seconds)
    incr(d, "count" .. SEP .. server, 1)
end

local function split(key)
    local parts = {}
    for part in (key .. SEP):gmatch("(.-)" .. SEP) do
        parts[#parts + 1] = part
    end
    return parts
end

function _M.collect()
    local d = dict()
    if not d then
        return ngx.exit(500)
    end
    local out = {
        "# HELP nginx_http_requests_total Requests by server and status.",
        "# TYPE nginx_http_requests_total counter",
    }
    local buckets, sums, counts = {}, {}, {}
    for _, key in ipairs(d:get_keys(0)) do
        local p = split(key)
        local value = d:get(key)
        if p[1] == "requests" then
            out[#out + 1] = string.format('nginx_http_requests_total{server="%s",status="%s"} %d', p[2], p[3], value)
        elseif p[1] == "bucket" then
            buckets[#buckets + 1] = string.format('nginx_http_request_duration_seconds_bucket{server="%s",le="%s"} %d',
                p[2], p[3], value)
        elseif p[1] == "sum" then
            sums[#sums + 1] = string.format('nginx_http_request_duration_seconds_sum{server="%s"} %.6f', p[2], value)
        elseif p[1] == "count" then
            counts[#counts + 1] = string.format('nginx_http_request_duration_seconds_count{server="%s"} %d', p[2], value)
        end
    end
    out[#out + 1] = "# HELP nginx_http_request_duration_seconds Request time."
    out[#out + 1] = "# TYPE nginx_http_request_duration_seconds histogram"
    for _, list in ipairs({ buckets, sums, counts }) do
        for _, line in ipairs(list) do
            out[#out + 1] = line
        end
    end
    out[#out + 1] = "# HELP nginx_http_connections Connections by state."
    out[#out + 1] = "# TYPE nginx_http_connections gauge"
    for _, state in ipairs({ "reading", "writing", "waiting" }) do
        out[#out + 1] = string.format('nginx_http_connections{state="%s"} %d', state,
            tonumber(ngx.var["connections_" .. state]) or 0)
    end
    ngx.header["Content-Type"] = "text/plain; version=0.0.4"
    ngx.say(table.concat(out, "\n"))
end

return _M
