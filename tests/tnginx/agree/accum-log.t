# check_accum_error_log(): as under Test::Nginx, every check reads error.log from the block's first
# line, so repetition 2 sees the lines of repetition 1 too (grep_error_log_out counts both visits).
use Test::Nginx::Socket::Lua;

repeat_each(2);
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: the second repetition's grep sees both visits
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.WARN, "visit of /t")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- grep_error_log: visit of /t
--- grep_error_log_out eval
["visit of /t\n", "visit of /t\nvisit of /t\n"]



=== TEST 2: a line only the first repetition logs is still there in the second
--- config
    location = /t {
        content_by_lua_block {
            local n = ngx.shared.visits:incr("n", 1, 0)
            if n == 1 then
                ngx.log(ngx.WARN, "first visit")
            end
            ngx.say(n)
        }
    }
--- http_config
    lua_shared_dict visits 1m;
--- request
GET /t
--- response_body_like: ^[12]$
--- error_log
first visit
