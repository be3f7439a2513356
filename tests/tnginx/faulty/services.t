# Blocks that use the harness's Redis and DNS server through Test::Nginx's variables. Healthy as
# written; tests/integration/test_tnginx.py runs them again under --harness-fault (each fault must
# fail the block that depends on it) and with --harness-check-leak (the pool-per-request block is
# faulty on purpose: a leak verdict must fail it; its twin shares one pool and passes).
use Test::Nginx::Socket::Lua;
repeat_each(1);
log_level('warn');
run_tests();

__DATA__

=== TEST 1: redis answers PING within 40 ms
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "resty.redis"
            local red = redis:new()
            red:set_timeout(40)
            local ok, err = red:connect("$TEST_NGINX_REDIS_HOST", $TEST_NGINX_REDIS_PORT)
            if not ok then
                ngx.log(ngx.ERR, "failed to connect redis: ", err)
                return ngx.exit(500)
            end
            local res, err = red:ping()
            if not res then
                ngx.log(ngx.ERR, "failed to ping redis: ", err)
                return ngx.exit(500)
            end
            red:set_keepalive(10000, 8)
            ngx.say(res)
        }
    }
--- request
GET /t
--- response_body
PONG
--- no_error_log
[error]
--- no_check_leak



=== TEST 2: an unknown name is NXDOMAIN (not a server failure)
--- config
    resolver $TEST_NGINX_RESOLVER ipv6=off;
    resolver_timeout 1s;
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(1000)
            local ok, err = sock:connect("nowhere.harness.test", 80)
            ngx.say(err)
        }
    }
--- request
GET /t
--- response_body_like: Host not found
--- no_check_leak



=== TEST 3: leaky on purpose: every request parks its connection in a pool of its own
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "resty.redis"
            local red = redis:new()
            red:set_timeout(1000)
            local ok, err = red:connect("$TEST_NGINX_REDIS_HOST", $TEST_NGINX_REDIS_PORT,
                                        { pool = "leak-" .. ngx.var.request_id })
            if not ok then
                ngx.log(ngx.ERR, "failed to connect redis: ", err)
                return ngx.exit(500)
            end
            red:set_keepalive(60000, 8)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok



=== TEST 4: the healthy twin: one pool for every request
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "resty.redis"
            local red = redis:new()
            red:set_timeout(1000)
            local ok, err = red:connect("$TEST_NGINX_REDIS_HOST", $TEST_NGINX_REDIS_PORT)
            if not ok then
                ngx.log(ngx.ERR, "failed to connect redis: ", err)
                return ngx.exit(500)
            end
            red:set_keepalive(60000, 8)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok



=== TEST 5: redis at 127.0.0.1:$TEST_NGINX_REDIS_PORT (the container's companion forwards it) answers PING within 60 ms
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "resty.redis"
            local red = redis:new()
            red:set_timeout(60)
            local ok, err = red:connect("127.0.0.1", $TEST_NGINX_REDIS_PORT)
            if not ok then
                ngx.log(ngx.ERR, "failed to connect redis: ", err)
                return ngx.exit(500)
            end
            local res, err = red:ping()
            if not res then
                ngx.log(ngx.ERR, "failed to ping redis: ", err)
                return ngx.exit(500)
            end
            red:set_keepalive(10000, 8)
            ngx.say(res)
        }
    }
--- request
GET /t
--- response_body
PONG
--- no_error_log
[error]
--- no_check_leak
