# udp_reply / tcp_reply given as a Perl sub: as Test::Nginx does, the harness calls it at run time
# with what the mock peer received (here a token that changes at every request, so no answer could be
# prepared ahead), and sends what it returns: a string, or an array of pieces. The sub may use the
# file's own functions.
use Test::Nginx::Socket::Lua;

repeat_each(2);

sub shout { return uc $_[0] }

run_tests();

__DATA__

=== TEST 1: udp_reply as a sub of the query
--- config
    location = /t {
        content_by_lua_block {
            local token = string.format("%d-%d", ngx.worker.pid(), ngx.now() * 1000)
            local udp = ngx.socket.udp()
            udp:settimeout(3000)
            assert(udp:setpeername("127.0.0.1", 19530))
            assert(udp:send("ping " .. token))
            local data, err = udp:receive()
            if not data then
                ngx.say("no reply: ", err)
                return
            end
            ngx.say(data == "pong " .. token:reverse() and "the reply was made of the query" or "got " .. data)
        }
    }
--- udp_listen: 19530
--- udp_reply eval
sub {
    my ($query) = @_;
    my ($token) = $query =~ /^ping (.*)$/s;
    return "pong " . reverse($token);
}
--- request
GET /t
--- response_body
the reply was made of the query
--- no_error_log
[error]



=== TEST 2: tcp_reply as a sub returning pieces, with a helper of the file
--- config
    location = /t {
        content_by_lua_block {
            local token = string.format("t%d", ngx.now() * 1000)
            local sock = ngx.socket.tcp()
            sock:settimeout(3000)
            assert(sock:connect("127.0.0.1", 19531))
            assert(sock:send("hello " .. token))
            local data, err = sock:receive("*a")
            sock:close()
            ngx.say(data == "HELLO " .. token:upper() .. "!" and "the reply was made of the query" or "got " .. tostring(data))
        }
    }
--- tcp_listen: 19531
--- tcp_reply eval
sub { return [main::shout($_[0]), "!"] }
--- request
GET /t
--- response_body
the reply was made of the query
--- no_error_log
[error]
