# nginx's helper processes log too: under Test::Nginx a block sees the lines of its cache manager and
# cache loader (here: each closes the Lua VM it inherited from the master), not only the workers'.
use Test::Nginx::Socket::Lua;

master_on();
run_tests();

__DATA__

=== TEST 1: the cache helpers' lines are the block's
--- http_config
    proxy_cache_path /tmp/harness-agree-cache levels=1:2 keys_zone=agree_cache:1m;
    init_by_lua_block { local answer = 42 }
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- grep_error_log eval: qr/lua close the global Lua VM \S+ in the cache helper process/
--- grep_error_log_out eval
qr/\A(?:lua close the global Lua VM \S+ in the cache helper process\n){2}\z/
