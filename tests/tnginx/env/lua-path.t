# A suite's Lua dependency outside the suite (tests/tnginx/deps): found through LUA_PATH or
# --lua-path, which a block's `lua_package_path "...;;"` picks up as under prove; without them the
# block fails, classed "Lua module missing: harness_dep.answer".
use Test::Nginx::Socket::Lua;

run_tests();

__DATA__

=== TEST 1: a module found only through LUA_PATH / --lua-path
--- http_config
    lua_package_path "/nonexistent/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local dep = require "harness_dep.answer"
            ngx.say("answer: ", dep.answer())
        }
    }
--- request
GET /t
--- response_body
answer: 42
--- no_error_log
[error]
