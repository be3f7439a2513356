# The 127.0.0.1 layout of a Sentinel topology, as a suite's Makefile starts it on one host: the file
# sets the master's, the replicas' and the Sentinels' ports; `harness t` lays the session's
# redis_sentinel out on them (one network namespace, every member on its own 127.0.0.1 port), so
# Sentinel names 127.0.0.1:PORT and the companion forwards the same ports into OpenResty's namespace.
# The ACL ports reach a node and a Sentinel with the users given by --harness-redis-users /
# --harness-sentinel-users (tests/integration/test_topology_services.py gives them); the unix socket
# is the session Redis's, its directory mounted where the variable says.
use Test::Nginx::Socket::Lua;
repeat_each(1);
log_level('warn');

$ENV{TEST_NGINX_REDIS_PORT} = 7380;
$ENV{TEST_NGINX_REDIS_PORT_SL1} = 7381;
$ENV{TEST_NGINX_REDIS_PORT_SL2} = 7382;
$ENV{TEST_NGINX_REDIS_PORT_AUTH} = 7383;
$ENV{TEST_NGINX_SENTINEL_PORT1} = 7390;
$ENV{TEST_NGINX_SENTINEL_PORT2} = 7391;
$ENV{TEST_NGINX_SENTINEL_PORT3} = 7392;
$ENV{TEST_NGINX_SENTINEL_PORT_AUTH} = 7393;
$ENV{TEST_NGINX_REDIS_SOCKET} = 'unix:/tmp/harness-t-redis/redis.sock';

our $HttpConfig = <<'_EOC_';
    init_by_lua_block {
        function connected(host, port)
            local red = require("resty.redis"):new()
            red:set_timeout(1000)
            local ok, err = red:connect(host, port)
            if not ok then
                return nil, "connect " .. host .. ":" .. tostring(port) .. ": " .. err
            end
            return red
        end
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: every Sentinel names the master at 127.0.0.1:$TEST_NGINX_REDIS_PORT, and a master answers there
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            for _, port in ipairs({ $TEST_NGINX_SENTINEL_PORT1, $TEST_NGINX_SENTINEL_PORT2, $TEST_NGINX_SENTINEL_PORT3 }) do
                local sentinel = assert(connected("127.0.0.1", port))
                local addr, err = sentinel:sentinel("get-master-addr-by-name", "mymaster")
                if type(addr) ~= "table" then
                    ngx.log(ngx.ERR, "sentinel at ", port, " names no master: ", err)
                    return ngx.exit(500)
                end
                sentinel:set_keepalive(10000, 4)
                ngx.say(port, ": ", addr[1], ":", addr[2])
            end
            local red = assert(connected("127.0.0.1", $TEST_NGINX_REDIS_PORT))
            ngx.say("role: ", red:role()[1])
            red:set_keepalive(10000, 4)
        }
    }
--- request
GET /t
--- response_body
7390: 127.0.0.1:7380
7391: 127.0.0.1:7380
7392: 127.0.0.1:7380
role: master
--- no_error_log
[error]



=== TEST 2: Sentinel names the replicas by their 127.0.0.1 ports, where replicas answer
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            local sentinel = assert(connected("127.0.0.1", $TEST_NGINX_SENTINEL_PORT1))
            local replicas = assert(sentinel:sentinel("replicas", "mymaster"))
            local found = {}
            for _, flat in ipairs(replicas) do
                local fields = {}
                for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
                found[#found + 1] = fields.ip .. ":" .. fields.port
            end
            table.sort(found)
            ngx.say(table.concat(found, " "))
            for _, port in ipairs({ $TEST_NGINX_REDIS_PORT_SL1, $TEST_NGINX_REDIS_PORT_SL2 }) do
                local red = assert(connected("127.0.0.1", port))
                ngx.say(port, ": ", red:role()[1])
                red:set_keepalive(10000, 4)
            end
        }
    }
--- request
GET /t
--- response_body
127.0.0.1:7381 127.0.0.1:7382
7381: slave
7382: slave
--- no_error_log
[error]



=== TEST 3: the ACL ports: a node that knows the Redis user, a Sentinel that knows its own
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            local red = assert(connected("127.0.0.1", $TEST_NGINX_REDIS_PORT_AUTH))
            local ok, err = red:auth("nobody", "wrong")
            ngx.say("wrong: ", err)
            assert(red:auth("appuser", "apppass"))
            ngx.say("whoami: ", red:acl("whoami"))
            red:close()
            local sentinel = assert(connected("127.0.0.1", $TEST_NGINX_SENTINEL_PORT_AUTH))
            assert(sentinel:auth("watcher", "watchpass"))
            ngx.say("sentinel whoami: ", sentinel:acl("whoami"))
            local addr = assert(sentinel:sentinel("get-master-addr-by-name", "mymaster"))
            ngx.say("master: ", addr[1], ":", addr[2])
            sentinel:close()
        }
    }
--- request
GET /t
--- response_body_like
wrong: WRONGPASS.*
whoami: appuser
sentinel whoami: watcher
master: 127\.0\.0\.1:7380
--- no_error_log
[error]



=== TEST 4: the session Redis's unix socket at the path the variable names
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            local red = require("resty.redis"):new()
            red:set_timeout(1000)
            local ok, err = red:connect("$TEST_NGINX_REDIS_SOCKET")
            if not ok then
                ngx.log(ngx.ERR, "connect $TEST_NGINX_REDIS_SOCKET: ", err)
                return ngx.exit(500)
            end
            assert(red:set("through", "the socket"))
            ngx.say(red:ping(), " ", red:get("through"))
            red:set_keepalive(10000, 4)
        }
    }
--- request
GET /t
--- response_body
PONG the socket
--- no_error_log
[error]



=== TEST 5: a block that names only a Sentinel reaches the master at the address Sentinel gives
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            local sentinel = assert(connected("127.0.0.1", $TEST_NGINX_SENTINEL_PORT2))
            local addr = assert(sentinel:sentinel("get-master-addr-by-name", "mymaster"))
            sentinel:set_keepalive(10000, 4)
            local red = assert(connected(addr[1], tonumber(addr[2])))
            assert(red:set("named", "by sentinel"))
            ngx.say(addr[1], ": ", red:role()[1], ", ", red:get("named"))
            red:set_keepalive(10000, 4)
        }
    }
--- request
GET /t
--- response_body
127.0.0.1: master, by sentinel
--- no_error_log
[error]
