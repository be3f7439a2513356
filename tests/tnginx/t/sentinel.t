# A Sentinel-aware suite's layout on fixed local ports, as lua-resty-redis-connector's Makefile
# starts it: the master at 127.0.0.1:$TEST_NGINX_REDIS_PORT, replicas at ..._PORT_SL1/SL2, Sentinels
# at $TEST_NGINX_SENTINEL_PORT1..3. The file only names the ports; `harness t` lays the session's
# redis_sentinel topology out on them (the master's port left to the harness: Redis's own, 6379) and
# the companion forwards each port to its member, so the address Sentinel names, 127.0.0.1:PORT, is
# the one OpenResty reaches (tests/tnginx/env/sentinel-local.t checks the names themselves).
use Test::Nginx::Socket::Lua;
repeat_each(1);
log_level('warn');

$ENV{TEST_NGINX_REDIS_PORT_SL1} ||= 6381;
$ENV{TEST_NGINX_REDIS_PORT_SL2} ||= 6382;
$ENV{TEST_NGINX_SENTINEL_PORT1} ||= 6390;
$ENV{TEST_NGINX_SENTINEL_PORT2} ||= 6391;
$ENV{TEST_NGINX_SENTINEL_PORT3} ||= 6392;

our $HttpConfig = <<'_EOC_';
    init_by_lua_block {
        function role_at(host, port)
            local red = require("resty.redis"):new()
            red:set_timeout(1000)
            local ok, err = red:connect(host, port)
            if not ok then
                return nil, "connect " .. host .. ":" .. port .. ": " .. err
            end
            local res, err = red:role()
            if not res then
                return nil, "ROLE at " .. host .. ":" .. port .. ": " .. err
            end
            red:set_keepalive(10000, 4)
            return res[1]
        end
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: every Sentinel port names the same master, which answers as a master where it says
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            local seen = {}
            for _, port in ipairs({ $TEST_NGINX_SENTINEL_PORT1, $TEST_NGINX_SENTINEL_PORT2, $TEST_NGINX_SENTINEL_PORT3 }) do
                local red = require("resty.redis"):new()
                red:set_timeout(1000)
                local ok, err = red:connect("127.0.0.1", port)
                if not ok then
                    ngx.log(ngx.ERR, "sentinel at ", port, ": ", err)
                    return ngx.exit(500)
                end
                local addr, err = red:sentinel("get-master-addr-by-name", "mymaster")
                if type(addr) ~= "table" then
                    ngx.log(ngx.ERR, "sentinel at ", port, " names no master: ", err)
                    return ngx.exit(500)
                end
                red:set_keepalive(10000, 4)
                seen[addr[1] .. ":" .. addr[2]] = true
            end
            local n, master = 0, nil
            for a in pairs(seen) do n, master = n + 1, a end
            ngx.say("masters named: ", n)
            local host, port = master:match("^(.+):(%d+)$")
            ngx.say("role there: ", assert(role_at(host, tonumber(port))))
        }
    }
--- request
GET /t
--- response_body
masters named: 1
role there: master
--- no_error_log
[error]



=== TEST 2: the master and the two replicas at their local ports
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("master: ", assert(role_at("127.0.0.1", $TEST_NGINX_REDIS_PORT)))
            ngx.say("sl1: ", assert(role_at("127.0.0.1", $TEST_NGINX_REDIS_PORT_SL1)))
            ngx.say("sl2: ", assert(role_at("127.0.0.1", $TEST_NGINX_REDIS_PORT_SL2)))
        }
    }
--- request
GET /t
--- response_body
master: master
sl1: slave
sl2: slave
--- no_error_log
[error]
