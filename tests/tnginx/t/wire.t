# The wire as Test::Nginx speaks it: bytes sent as the block writes them, answers read raw and
# parsed leniently (run by `make test`; each block also passes under prove).
use Test::Nginx::Socket::Lua;

repeat_each(1);
plan tests => repeat_each() * (blocks() * 2 + 7);  # + the extra checks of TESTs 1, 2 and 10, the second answer of 6
no_long_string();
run_tests();

__DATA__

=== TEST 1: a 101 upgrade: the websocket frames after it are the body
--- config
    location = /ws {
        content_by_lua_block {
            -- a server-side websocket by hand (what resty.websocket.server does): 101, then frames
            local bit = require "bit"
            ngx.status = 101
            ngx.header["Upgrade"] = "websocket"
            ngx.send_headers()
            ngx.flush(true)
            local sock, err = ngx.req.socket(true)
            if not sock then
                ngx.log(ngx.ERR, "no raw socket: ", err)
                return
            end
            local frame, err = sock:receive(9)  -- FIN+text, masked length 3, the mask, "foo" masked
            if not frame then
                ngx.log(ngx.ERR, "no frame: ", err)
                return
            end
            local out = {}
            for i = 1, 3 do
                out[i] = string.char(bit.bxor(frame:byte(6 + i), frame:byte(2 + i)))
            end
            local payload = table.concat(out)
            local ok, err = sock:send("\x81" .. string.char(#payload) .. payload .. "\x88\x00")
            if not ok then
                ngx.log(ngx.ERR, "failed to send: ", err)
            end
        }
    }
--- raw_request eval
"GET /ws HTTP/1.1\r
Host: localhost\r
Upgrade: websocket\r
Connection: Upgrade\r
\r
\x81\x83\x01\x02\x03\x04" . ("foo" ^ "\x01\x02\x03")
--- error_code: 101
--- response_headers
Upgrade: websocket
Connection: upgrade
--- response_body eval
"\x81\x03foo\x88\x00"



=== TEST 2: two Transfer-Encoding headers: the body is given as sent (HTTP::Headers reads "chunked, chunked")
--- config
    location = /te {
        content_by_lua_block {
            local sock = assert(ngx.req.socket(true))
            assert(sock:send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
                             .. "Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
        }
    }
--- request
GET /te
--- response_headers
Transfer-Encoding: chunked, chunked
--- response_body eval
"5\r\nhello\r\n0\r\n\r\n"



=== TEST 3: a chunked request body is sent as written (no Content-Length added, nothing trimmed)
--- config
    location = /body {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say("[", ngx.req.get_body_data(), "] ", ngx.var.http_content_length or "no length")
        }
    }
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /body
6\r
 hello\r
7\r
, world\r
0\r
\r
"
--- response_body
[ hello, world] no length



=== TEST 4: more_headers replace the client's own Host and Connection; request_eval
--- config
    location = /host {
        content_by_lua_block { ngx.say(ngx.var.http_host, " ", ngx.var.http_connection, " ", ngx.req.get_method()) }
    }
--- more_headers
Host: example.org
Connection: close
--- request_eval
"PUT /host\n" . "x" x 3
--- response_body
example.org close PUT



=== TEST 5: raw_request in packets with a middle delay
--- config
    location = /raw {
        content_by_lua_block { ngx.say(ngx.req.raw_header()) }
    }
--- raw_request eval
["GET /raw HTTP/1.1\r\n", "Host: two\r\nConnection: close\r\n\r\n"]
--- raw_request_middle_delay: 0.05
--- response_body eval
"GET /raw HTTP/1.1\r\nHost: two\r\nConnection: close\r\n\r\n\n"



=== TEST 6: pipelined_requests: a chunked answer, a counted one, a body on the first
--- config
    location = /echo {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say("got ", ngx.req.get_body_data())
        }
    }
    location = /missing { return 404 "none\n"; }
--- pipelined_requests eval
["POST /echo\nabc", "GET /missing"]
--- error_code eval
[200, 404]
--- response_body eval
["got abc\n", "none\n"]



=== TEST 7: abort: the timeout forgiven, what came before it still checked
--- config
    location = /slow {
        content_by_lua_block {
            ngx.header.content_length = 10
            ngx.print("part\n")
            ngx.flush(true)
            ngx.sleep(1)
            ngx.print("rest\n")
        }
    }
--- request
GET /slow
--- timeout: 0.3
--- abort
--- response_body
part



=== TEST 8: the timeout counts per I/O event: three pieces 0.3 s apart under a 0.5 s timeout
--- config
    location = /pieces {
        content_by_lua_block {
            for i = 1, 3 do
                ngx.print(i)
                ngx.flush(true)
                ngx.sleep(0.3)
            end
        }
    }
--- request
GET /pieces
--- timeout: 0.5
--- response_body chomp
123



=== TEST 9: no answer at all: the status reads as "", which error_code_like may take
--- config
    location = /close { return 444; }
--- request
GET /close
--- error_code_like: ^(?:500)?$
--- response_body:



=== TEST 10: a peer's line logged just after the answer closed is in the block's window
--- config
    location = /c {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("127.0.0.1", ngx.var.server_port)
            if not ok then
                ngx.say("failed to connect: ", err)
                return
            end
            local ok, err = sock:send("GET /s HTTP/1.0\r\nHost: localhost\r\n\r\n")
            ngx.say(ok and "sent" or "failed to send: " .. err)
        }
    }
    location = /s {
        content_by_lua_block {
            -- runs after /c answered: 10 ms of work (within Test::Nginx's 45 ms pause), then its line
            local start = ngx.now()
            repeat
                ngx.update_time()
            until ngx.now() - start >= 0.01
            ngx.log(ngx.WARN, "peer logged")
        }
    }
--- request
GET /c
--- response_body
sent
--- error_log
peer logged
--- no_error_log
[error]



=== TEST 11: http09: an HTTP/0.9 request's answer is a bare body
--- config
    location = /old { return 200 "no head\n"; }
--- raw_request eval
"GET /old\r\n"
--- http09
--- response_body
no head
