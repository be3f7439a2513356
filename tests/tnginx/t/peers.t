# What a block finds on its container's 127.0.0.1 (run by `make test`): the session's Redis at
# $TEST_NGINX_REDIS_PORT, and the mock peers of tcp_listen / udp_listen with their sections. Every
# block checks what the peer answered (and the peer checks what it was sent), twice: each
# repetition gets peers of its own. Its faulty twin is tests/tnginx/faulty/peers.t.
use Test::Nginx::Socket::Lua;
repeat_each(2);
log_level('warn');
no_long_string();
$ENV{TEST_NGINX_REDIS_PORT} ||= 6379;
run_tests();

__DATA__

=== TEST 1: the session's Redis on 127.0.0.1:$TEST_NGINX_REDIS_PORT, hard-coded as suites do
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "resty.redis"
            local red = redis:new()
            red:set_timeout(1000)
            local ok, err = red:connect("127.0.0.1", $TEST_NGINX_REDIS_PORT)
            if not ok then
                ngx.log(ngx.ERR, "failed to connect redis: ", err)
                return ngx.exit(500)
            end
            local res, err = red:set("companion:key", "from 127.0.0.1")
            if not res then
                ngx.log(ngx.ERR, "failed to set: ", err)
                return ngx.exit(500)
            end
            res, err = red:get("companion:key")
            if not res then
                ngx.log(ngx.ERR, "failed to get: ", err)
                return ngx.exit(500)
            end
            red:set_keepalive(10000, 8)
            ngx.say(res)
        }
    }
--- request
GET /t
--- response_body
from 127.0.0.1
--- no_error_log
[error]



=== TEST 2: tcp_listen: the query is read, checked, and answered; then the peer closes
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(1000)
            local ok, err = sock:connect("127.0.0.1", 19841)
            if not ok then
                ngx.say("failed to connect: ", err)
                return
            end
            assert(sock:send("hello\n"))
            local data, err = sock:receive("*a")  -- returns once the peer closed
            ngx.say("received: ", data, " (", err, ")")
            sock:close()
        }
    }
--- request
GET /t
--- tcp_listen: 19841
--- tcp_query eval: "hello\n"
--- tcp_reply: hi there
--- response_body
received: hi there (nil)
--- no_error_log
[error]



=== TEST 3: tcp_reply_delay holds the answer back
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(2000)
            assert(sock:connect("127.0.0.1", 19841))
            ngx.update_time()
            local started = ngx.now()
            assert(sock:send("x"))
            local data, err = sock:receive("*a")
            ngx.update_time()
            ngx.say(data, ", waited at least 0.25 s: ", ngx.now() - started >= 0.25)
        }
    }
--- request
GET /t
--- tcp_listen: 19841
--- tcp_reply_delay: 300ms
--- tcp_reply: late
--- response_body
late, waited at least 0.25 s: true



=== TEST 4: tcp_query_len: the peer waits for all ten bytes, sent in two parts; an array reply comes in pieces
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(1000)
            assert(sock:connect("127.0.0.1", 19841))
            assert(sock:send("01234"))
            ngx.sleep(0.05)
            assert(sock:send("56789"))
            local data, err = sock:receive("*a")
            ngx.say("received: ", data)
        }
    }
--- request
GET /t
--- tcp_listen: 19841
--- tcp_query_len: 10
--- tcp_reply eval
["first,", "second"]
--- response_body
received: first,second



=== TEST 5: tcp_no_close: the reply comes, the connection stays open (the read times out)
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(300)
            assert(sock:connect("127.0.0.1", 19841))
            assert(sock:send("x"))
            local data, err, partial = sock:receive("*a")
            ngx.say(err, ", got: ", partial)
        }
    }
--- request
GET /t
--- tcp_listen: 19841
--- tcp_reply: open
--- tcp_no_close
--- response_body
timeout, got: open
--- error_log
lua tcp socket read timed out



=== TEST 6: tcp_shutdown 1: the peer shuts its write side at once; the client reads the end
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(1000)
            assert(sock:connect("127.0.0.1", 19841))
            local data, err = sock:receive()
            ngx.say(data, " ", err)
        }
    }
--- request
GET /t
--- tcp_listen: 19841
--- tcp_shutdown: 1
--- response_body
nil closed



=== TEST 7: udp_listen: the datagram is checked and answered
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            udp:settimeout(1000)
            assert(udp:setpeername("127.0.0.1", 19842))
            assert(udp:send("ping"))
            local data, err = udp:receive()
            ngx.say("received: ", data, " ", err)
        }
    }
--- request
GET /t
--- udp_listen: 19842
--- udp_query: ping
--- udp_reply: pong
--- response_body
received: pong nil



=== TEST 8: udp_reply as an array: one datagram each, after udp_reply_delay
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            udp:settimeout(1000)
            assert(udp:setpeername("127.0.0.1", 19842))
            ngx.update_time()
            local started = ngx.now()
            assert(udp:send("q"))
            local one = udp:receive()
            local two = udp:receive()
            ngx.update_time()
            ngx.say(one, "|", two, ", waited at least 0.15 s: ", ngx.now() - started >= 0.15)
        }
    }
--- request
GET /t
--- udp_listen: 19842
--- udp_reply_delay: 0.2
--- udp_reply eval
["one", "two"]
--- response_body
one|two, waited at least 0.15 s: true



=== TEST 9: tcp_listen on a unix socket in $TEST_NGINX_HTML_DIR (the companion shares that directory)
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(1000)
            local ok, err = sock:connect("unix:$TEST_NGINX_HTML_DIR/peer.sock")
            if not ok then
                ngx.say("failed to connect: ", err)
                return
            end
            assert(sock:send("over unix"))
            ngx.say("received: ", sock:receive("*a"))
        }
    }
--- request
GET /t
--- tcp_listen eval: "$ENV{TEST_NGINX_HTML_DIR}/peer.sock"
--- tcp_query: over unix
--- tcp_reply: hello from the socket
--- response_body
received: hello from the socket
