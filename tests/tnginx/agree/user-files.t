# user_files as Test::Nginx writes them: a name without a leading / lands in the html directory, an
# absolute name at that path (a config may include it); a Lua file there is data, loaded when the
# config asks for it: a syntax error in it is what nginx reports then (a 500), not a start failure.
use Test::Nginx::Socket::Lua;

repeat_each(2);
run_tests();

__DATA__

=== TEST 1: a user file at an absolute path, included by the config
--- config
    include /tmp/harness-agree-included.conf;
--- user_files
>>> /tmp/harness-agree-included.conf
    location = /t {
        return 200 "from the included file\n";
    }
--- request
GET /t
--- response_body
from the included file



=== TEST 2: a broken Lua file of the html directory fails when it is loaded, as nginx reports it
--- http_config
    lua_package_path "$TEST_NGINX_HTML_DIR/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            package.loaded.broken = nil
            require "broken"
        }
    }
--- user_files
>>> broken.lua
local function f()
    return 1
    return 2
end
--- request
GET /t
--- error_code: 500
--- error_log eval
qr/html\/broken\.lua:3: 'end' expected/



=== TEST 3: every repetition finds the user files as the first one did (this one moves its file away)
--- config
    location = /t {
        content_by_lua_block {
            local html = ngx.config.prefix() .. "html/"
            local ok, err = os.rename(html .. "a.txt", html .. "moved.txt")
            ngx.say("a.txt was there: ", ok and "yes" or err)
        }
    }
--- user_files
>>> a.txt
A
--- request
GET /t
--- response_body
a.txt was there: yes
