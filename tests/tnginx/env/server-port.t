# The blocks' server listens where Test::Nginx's would: on $TEST_NGINX_SERVER_PORT (1984 unless the
# environment or the file says otherwise), so a block may run servers of its own on other ports,
# 8080 among them.
use Test::Nginx::Socket::Lua;

run_tests();

__DATA__

=== TEST 1: the server's port is $TEST_NGINX_SERVER_PORT ($ServerPort in expectations)
--- config
    location = /t {
        content_by_lua_block { ngx.say("port ", ngx.var.server_port) }
    }
--- request
GET /t
--- response_body
port $ServerPort
--- no_error_log
[error]



=== TEST 2: a server of the block's own on port 8080
--- http_config
    server {
        listen 8080;
        location / {
            return 200 "the block's own server\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(2000)
            local ok, err = sock:connect("127.0.0.1", 8080)
            if not ok then
                ngx.say("connect failed: ", err)
                return
            end
            local _, send_err = sock:send("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            if send_err then
                ngx.say("send failed: ", send_err)
                return
            end
            local answer, read_err = sock:receive("*a")
            sock:close()
            if not answer then
                ngx.say("receive failed: ", read_err)
                return
            end
            ngx.print(answer:match("\r\n\r\n(.*)$") or answer)
        }
    }
--- request
GET /t
--- response_body
the block's own server
--- no_error_log
[error]
