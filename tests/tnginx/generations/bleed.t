# Two blocks for tests/integration/test_tnginx.py: the first leaves a timer that fires when its
# worker shuts down, during the reload into the second; the second must not see that line.
use Test::Nginx::Socket::Lua;
repeat_each(1);
run_tests();

__DATA__

=== TEST 1: a timer that outlives the block
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(30, function(premature)
                ngx.log(ngx.ERR, "old generation says goodbye, premature: ", premature)
            end)
            ngx.say("scheduled")
        }
    }
--- request
GET /t
--- response_body
scheduled



=== TEST 2: the next generation sees none of it
--- config
    location = /t { return 200 "fresh"; }
--- request
GET /t
--- response_body chomp
fresh
--- no_error_log
old generation says
