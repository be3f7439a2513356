# For tests/integration/test_coverage.py: `harness t --harness-coverage` on this suite counts the
# lines of lib/covsuite.lua that its blocks ran (content, log phase, a block's own init_worker).
use Test::Nginx::Socket::Lua;
use Cwd qw(cwd);

my $pwd = cwd();
our $HttpConfig = qq{
    lua_package_path "$pwd/lib/?.lua;;";
};

repeat_each(1);
plan tests => repeat_each() * (blocks() * 2);
run_tests();

__DATA__

=== TEST 1: content phase
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block { ngx.say(require("covsuite").hello("t")) }
    }
--- request
GET /t
--- response_body
hello, t
--- no_error_log
[error]



=== TEST 2: log phase only
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block { require("covsuite").on_log(ngx.status) }
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 3: the block's own init_worker_by_lua
--- http_config eval
$::HttpConfig . q{
    init_worker_by_lua_block { require("covsuite").at_init() }
}
--- config
    location = /t { return 200 "init\n"; }
--- request
GET /t
--- response_body
init
--- no_error_log
[error]
