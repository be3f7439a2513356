# The Test::Nginx sections the harness supports, one block each (run by `make test`).
use lib '.';
use t::Demo;

repeat_each(2);
plan tests => repeat_each() * (blocks() * 3);
$ENV{TEST_NGINX_GREETING} ||= 'howdy';
no_long_string();
run_tests();

__DATA__

=== TEST 1: config, http_config eval with $pwd, the suite's own lib/, default request
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            local greet = require "harness_demo.greet"
            ngx.say(greet.hello("test"))
        }
    }
--- response_body
hello, test



=== TEST 2: request with a body, more_headers, response_headers, $TEST_NGINX_ variables
--- config
    location = /echo {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.header["X-Greeting"] = "$TEST_NGINX_GREETING"
            ngx.say(ngx.var.http_x_foo, ":", ngx.req.get_body_data())
        }
    }
--- request eval
"POST /echo
abc"
--- more_headers
X-Foo: bar
--- response_headers
X-Greeting: howdy
Content-Type: text/plain
!X-Missing
--- response_body
bar:abc



=== TEST 3: request eval as an array, error_code, response_body eval arrays
--- config
    location = /a { return 201 "a"; }
    location = /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[201, 404]
--- response_body_like eval
[qr/^a$/, qr/404 Not Found/]



=== TEST 4: error_log and no_error_log with strings, arrays and qr//, log_level, chomp
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.WARN, "counted ", 42, " things")
            ngx.print("done")
        }
    }
--- log_level: warn
--- response_body chomp
done
--- error_log eval
["counted 42", qr/counted \d+ things/]
--- no_error_log
[error]
[alert]



=== TEST 5: grep_error_log and grep_error_log_out, log phase lines included
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block {
            ngx.log(ngx.INFO, "step one")
            ngx.log(ngx.INFO, "step two")
        }
    }
--- response_body
ok
--- grep_error_log eval: qr/step \w+/
--- grep_error_log_out
step one
step two



=== TEST 6: pipelined_requests on one connection
--- config
    location = /n { content_by_lua_block { ngx.say(ngx.var.arg_n) } }
--- pipelined_requests eval
["GET /n?n=1", "GET /n?n=2"]
--- response_body eval
["1\n", "2\n"]



=== TEST 7: raw_request, chop (the section's last character, its newline, goes)
--- config
    location = /raw { return 200 "raw"; }
--- raw_request eval
"GET /raw HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body chop
raw



=== TEST 8: user_files in the html directory and the root location
--- user_files
>>> hello.txt
from a user file
--- request
GET /hello.txt
--- response_body
from a user file



=== TEST 9: main_config and init_by_lua_block
--- main_config
    env HARNESS_DEMO_MAIN=1;
--- init_by_lua_block
    demo_loaded = "at init"
--- config
    location = /t { content_by_lua_block { ngx.say(demo_loaded) } }
--- response_body
at init



=== TEST 10: timeout with abort: a slow answer is not a failure
--- config
    location = /slow { content_by_lua_block { ngx.sleep(1) ngx.say("late") } }
--- request
GET /slow
--- timeout: 200ms
--- abort
--- ignore_response



=== TEST 11: wait before the log checks, a timer's line
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0.05, function() ngx.log(ngx.WARN, "timer ran") end)
            ngx.say("scheduled")
        }
    }
--- response_body
scheduled
--- wait: 0.2
--- error_log
timer ran



=== TEST 12: must_die: a config nginx rejects, its message checked
--- config
    location = /t { return a b c; }
--- must_die
--- error_log
invalid number of arguments in "return" directive



=== TEST 13: --- SKIP skips a block
--- config
    location = /t { return 500; }
--- response_body
never compared
--- SKIP



=== TEST 14: response_body_unlike, error_code_like, response_headers_like, raw_response_headers_like
--- config
    location = /u { content_by_lua_block { ngx.header["X-Id"] = "id-77"; ngx.exit(503) } }
--- request
GET /u
--- error_code_like: ^5\d\d$
--- response_body_unlike: hello
--- response_headers_like
X-Id: id-\d+
--- raw_response_headers_like: X-Id: id-77\r\n



=== TEST 15: skip_nginx and skip_eval skip a block
--- config
    location = /t { return 500; }
--- skip_nginx: 3: > 0.1.0
--- response_body
never compared



=== TEST 16: no_check_leak is accepted (only --harness-check-leak reads it)
--- config
    location = /t { return 200 "fine"; }
--- no_check_leak
--- response_body chomp
fine



=== TEST 17: request in packets with delay_before, request_eval, init_by_lua
--- init_by_lua
    demo_init = "init string"
--- config
    location = /p {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(demo_init, ": ", ngx.req.get_body_data())
        }
    }
--- request eval
[["POST /p\nhel", {value => "lo", delay_before => 0.05}]]
--- response_body
init string: hello



=== TEST 18: request_eval (the deprecated spelling) and skip_nginx2 that does not apply
--- config
    location = /q { return 200 "q"; }
--- request_eval
"GET /q"
--- skip_nginx2: 2: < 0.1.0 or > 99.0.0
--- response_body chomp
q



=== TEST 19: skip_eval skips when its Perl code is true
--- config
    location = /t { return 500; }
--- skip_eval: 2: 1 + 1 == 2
--- response_body
never compared



=== TEST 20: the filters lines, chomp, array, base64_decode
--- config
    location = /t { return 200 "abc"; }
--- response_body base64_decode
YWJj
--- no_error_log lines chomp array
[error]
[crit]



=== TEST 21: env NAME; in main_config hands the file's $ENV{TEST_NGINX_*} to the workers
--- main_config
env TEST_NGINX_GREETING;
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(os.getenv("TEST_NGINX_GREETING"), " ", os.getenv("TEST_NGINX_NOT_SET") == nil)
        }
    }
--- response_body
howdy true



=== TEST 22: ngx.worker.pids() lists this block's workers only, as after Test::Nginx's restart
--- config
    location = /t {
        content_by_lua_block {
            local pids = ngx.worker.pids()
            ngx.say(#pids == ngx.worker.count(), " ", pids[ngx.worker.id() + 1] == ngx.worker.pid())
        }
    }
--- response_body
true true



=== TEST 23: stap sections are ignored (as Test::Nginx does without TEST_NGINX_USE_STAP); the rest is checked
--- config
    location = /t {
        content_by_lua_block { ngx.say("probed") }
    }
--- stap
F(ngx_http_lua_content_handler) {
    println("content handler")
}
--- stap_out
content handler
--- response_body
probed
--- no_error_log
[error]
