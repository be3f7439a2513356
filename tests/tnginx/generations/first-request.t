# One block for tests/integration/test_tnginx.py, run on a container started for it: its first
# request must find the worker as nginx started it, with no Lua thread cached by the harness's own
# readiness request (ngx_lua logs the cache at debug level, so this needs nginx --with-debug).
use Test::Nginx::Socket::Lua;
repeat_each(2);
run_tests();

__DATA__

=== TEST 1: the first request is the worker's first Lua thread
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("first")
        }
    }
--- request
GET /t
--- response_body
first
--- grep_error_log eval: qr/lua caching unused lua thread|lua reusing cached lua thread/
--- grep_error_log_out eval
[
    "lua caching unused lua thread\n",
    "lua reusing cached lua thread\nlua caching unused lua thread\n",
]
