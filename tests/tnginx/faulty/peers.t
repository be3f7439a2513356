# Faulty on purpose: each block's client sends what its mock peer's section does not expect, so the
# peer's check must fail it (as Test::Nginx's "tcp_query ok" test would), although every answer is
# what the block expects. tests/integration/test_tnginx.py runs it; its healthy twin is
# tests/tnginx/t/peers.t.
use Test::Nginx::Socket::Lua;
repeat_each(1);
log_level('warn');
run_tests();

__DATA__

=== TEST 1: faulty: tcp_query expects howdy, the client says hello (as long: the peer reads as much)
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(1000)
            assert(sock:connect("127.0.0.1", 19843))
            assert(sock:send("hello\n"))
            ngx.say(sock:receive("*a"))
        }
    }
--- request
GET /t
--- tcp_listen: 19843
--- tcp_query eval: "howdy\n"
--- tcp_reply: ok
--- response_body
ok



=== TEST 2: faulty: tcp_query_len expects 6 bytes, the client sends 7
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(1000)
            assert(sock:connect("127.0.0.1", 19843))
            assert(sock:send("1234567"))
            ngx.say(sock:receive("*a"))
        }
    }
--- request
GET /t
--- tcp_listen: 19843
--- tcp_query_len: 6
--- tcp_reply: ok
--- response_body
ok



=== TEST 3: faulty: udp_query expects ping, the client sends pong
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            udp:settimeout(1000)
            assert(udp:setpeername("127.0.0.1", 19844))
            assert(udp:send("pong"))
            ngx.say(udp:receive())
        }
    }
--- request
GET /t
--- udp_listen: 19844
--- udp_query: ping
--- udp_reply: ok
--- response_body
ok
