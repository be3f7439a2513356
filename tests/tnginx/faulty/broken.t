# Faulty on purpose: each block's expectation is wrong, so `harness t` must report it failed
# (tests/integration/test_tnginx.py). Not below a t/ directory: `make test` does not collect it.
use Test::Nginx::Socket::Lua;
repeat_each(1);
run_tests();

__DATA__

=== TEST 1: wrong body
--- config
    location = /t { return 200 "actual"; }
--- request
GET /t
--- response_body chomp
expected



=== TEST 2: an error the block says must not be logged
--- config
    location = /t { content_by_lua_block { ngx.log(ngx.ERR, "boom") ngx.say("ok") } }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
