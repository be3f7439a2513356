# A block that uses the harness's memcached through Test::Nginx's variables: naming them declares the
# service (the harness starts memcached before the block's container and passes its address).
use Test::Nginx::Socket::Lua;
repeat_each(2);
log_level('warn');
run_tests();

__DATA__

=== TEST 1: memcached stores and returns a value (its text protocol on a pooled cosocket)
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(1000)
            local ok, err = sock:connect("$TEST_NGINX_MEMCACHED_HOST", $TEST_NGINX_MEMCACHED_PORT)
            if not ok then
                ngx.log(ngx.ERR, "failed to connect memcached: ", err)
                return ngx.exit(500)
            end
            local bytes, err = sock:send("set greeting 0 0 5\r\nhello\r\nget greeting\r\n")
            if not bytes then
                ngx.log(ngx.ERR, "failed to send to memcached: ", err)
                return ngx.exit(500)
            end
            local lines = {}
            for i = 1, 4 do
                local line, err = sock:receive("*l")
                if not line then
                    ngx.log(ngx.ERR, "failed to read from memcached: ", err)
                    return ngx.exit(500)
                end
                lines[i] = line
            end
            local ok, err = sock:setkeepalive(10000, 8)
            if not ok then
                ngx.log(ngx.ERR, "failed to pool the memcached connection: ", err)
            end
            ngx.say(table.concat(lines, " "))
        }
    }
--- request
GET /t
--- response_body
STORED VALUE greeting 0 5 hello END
--- no_error_log
[error]
