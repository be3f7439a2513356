# The client's address: Test::Nginx's client connects from 127.0.0.1, so $remote_addr, the
# X-Forwarded-For nginx adds and the "client: ..." of error.log lines say 127.0.0.1. A block that
# looks at it gets its requests sent from the container's own 127.0.0.1.
use Test::Nginx::Socket::Lua;

repeat_each(2);
run_tests();

__DATA__

=== TEST 1: $remote_addr in the body
--- config
    location = /t {
        content_by_lua_block { ngx.say("from ", ngx.var.remote_addr) }
    }
--- request
GET /t
--- response_body
from 127.0.0.1



=== TEST 2: the client named in an error.log line
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.ERR, "something to say")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[error\] .*something to say, client: 127\.0\.0\.1, server: /



=== TEST 3: the X-Forwarded-For a proxy adds, with a request body sent in two packets
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$server_port/back;
        proxy_set_header X-Seen $proxy_add_x_forwarded_for;
    }
    location = /back {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.var.http_x_seen, " ", ngx.req.get_body_data())
        }
    }
--- request eval
[["POST /t\nhel", "lo"]]
--- raw_request_middle_delay: 0.05
--- response_body
127.0.0.1 hello
