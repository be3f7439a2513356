# A file that uses Test::Nginx::Socket::Lua::Stream (as libraries' shared t:: modules do, in http mode
# too): its http block runs; its stream blocks run where the image has the modules they need (the
# stream module; ngx_stream_lua_module for Lua in the stream server) and are skipped, naming the
# module, where it lacks them.
use Test::Nginx::Socket::Lua::Stream;

run_tests();

__DATA__

=== TEST 1: an http block of a file that uses the Stream module
--- config
    location = /t {
        content_by_lua_block { ngx.say("http ok") }
    }
--- request
GET /t
--- response_body
http ok
--- no_error_log
[error]



=== TEST 2: a stream server without Lua (stream module only)
--- stream_server_config
    return "stream says hi\n";
--- stream_response
stream says hi
--- no_error_log
[error]



=== TEST 3: a stream server in Lua reads the stream request and answers
--- stream_server_config
    content_by_lua_block {
        local sock = assert(ngx.req.socket(true))
        local line, err = sock:receive()
        if not line then
            ngx.log(ngx.ERR, "failed to receive: ", err)
            return
        end
        ngx.say("got: ", line)
    }
--- stream_request
hello
--- stream_response_like
^got: hello$
--- no_error_log
[error]



=== TEST 4: an http block whose main_config writes its own stream {} (a plain TCP front for the server)
--- main_config
    stream {
        server {
            listen 127.0.0.1:12346;
            proxy_pass 127.0.0.1:$TEST_NGINX_SERVER_PORT;
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(2000)
            local ok, err = sock:connect("127.0.0.1", 12346)
            if not ok then
                ngx.say("connect failed: ", err)
                return
            end
            local _, send_err = sock:send("GET /back HTTP/1.0\r\nHost: x\r\n\r\n")
            if send_err then
                ngx.say("send failed: ", send_err)
                return
            end
            local body, read_err = sock:receive("*a")
            sock:close()
            if not body then
                ngx.say("receive failed: ", read_err)
                return
            end
            ngx.print(body:match("\r\n\r\n(.*)$") or body)
        }
    }
    location = /back {
        return 200 "through the stream front\n";
    }
--- request
GET /t
--- response_body
through the stream front
--- no_error_log
[error]
