# Perl that asks nginx: the preamble, skip_eval and $Test::Nginx::Util::NginxVersion see the nginx of
# the image that runs the blocks (the harness's stand-in answers -V/-v from it), not the host's.
use Test::Nginx::Socket::Lua;

our $V = `$Test::Nginx::Util::NginxBinary -V 2>&1`;
our ($Version) = $V =~ m{nginx/(\d+\.\d+\.\d+)};
our $PathV = `nginx -v 2>&1`;
$Version //= 'no answer';

run_tests();

__DATA__

=== TEST 1: the preamble's `$NginxBinary -V` names the container's nginx
--- config
    location = /t {
        content_by_lua_block { ngx.say(ngx.var.nginx_version) }
    }
--- request
GET /t
--- response_body eval: "$::Version\n"



=== TEST 2: `nginx -v` on the PATH answers as the container's nginx
--- config
    location = /t {
        content_by_lua_block { ngx.say(ngx.var.nginx_version) }
    }
--- request
GET /t
--- response_body eval
$::PathV =~ m{^nginx version: \S+/(\d+\.\d+\.\d+)} ? "$1\n" : "no answer: $::PathV"



=== TEST 3: $NginxVersion, learnt when run_tests starts, is the container's
--- config
    location = /t {
        content_by_lua_block { ngx.say(ngx.config.nginx_version) }
    }
--- request
GET /t
--- response_body eval
sprintf("%d\n", ($Test::Nginx::Util::NginxVersion // 0) * 1000000 + 0.5)



=== TEST 4: skip_eval sees the container's configure arguments (skipped where it has --with-debug)
--- skip_eval: 1: `$Test::Nginx::Util::NginxBinary -V 2>&1` =~ /--with-debug/
--- config
    location = /t { return 200 "no --with-debug\n"; }
--- request
GET /t
--- response_body
no --with-debug



=== TEST 5: a skip_eval that names $NginxBinary by its short name runs where there is a debug build
--- skip_eval: 1: system("$NginxBinary -V 2>&1 | grep -q -- '--with-debug'") ne 0
--- log_level: debug
--- config
    location = /t {
        content_by_lua_block { ngx.say("debug build") }
    }
--- request
GET /t
--- response_body
debug build
--- error_log
[debug]
