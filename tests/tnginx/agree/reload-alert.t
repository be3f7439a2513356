# A config that makes nginx log an [alert] while it loads (lua_code_cache off) is not refused when the
# master takes its time to start the workers after that line (here its init_by_lua keeps it busy for
# 0.3 s, as a loaded machine would): only an [emerg] line, or nginx -t, says a reload failed.
use Test::Nginx::Socket::Lua;

use_hup();
run_tests();

__DATA__

=== TEST 1: lua_code_cache off and a slow init_by_lua, reached by a HUP
--- http_config
    lua_code_cache off;
    init_by_lua_block {
        local started = os.clock()
        while os.clock() - started < 0.3 do end
    }
--- config
    location = /t {
        content_by_lua_block { ngx.say("served") }
    }
--- request
GET /t
--- response_body
served
--- error_log
lua_code_cache is off
