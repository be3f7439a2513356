# A suite that writes to Test::Nginx's error log file itself (as jit.v does, opened with io.open(path,
# "w") in init_by_lua): its lines sit before nginx's own in that file (its handle writes from the
# file's start, nginx appends to the end), so a grep over error.log finds them first, and a later
# repetition, which reads from where the last read ended, does not find them.
use Test::Nginx::Socket::Lua;

our $HttpConfig = qq{
    init_by_lua_block { _G.side = assert(io.open("$Test::Nginx::Util::ErrLogFile", "w")) }
};

repeat_each(2);
run_tests();

__DATA__

=== TEST 1: the suite's own line comes before nginx's in the grep
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.WARN, "mark: from nginx")
            _G.side:write("mark: from the suite's handle\n")
            _G.side:flush()
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- grep_error_log eval: qr/mark: [^,\n]*/
--- grep_error_log_out eval
["mark: from the suite's handle\nmark: from nginx\n", "mark: from nginx\n"]



=== TEST 2: a grep match that takes the line's newline is left out, as Test::Nginx leaves it out
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.WARN, "mark: from nginx")
            _G.side:write("mark: from the suite's handle\n")
            _G.side:flush()
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- grep_error_log eval: qr/mark: [^,]*/
--- grep_error_log_out
mark: from nginx



=== TEST 3: a later repetition reads from where the last read ended: the suite's lines are behind it
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        content_by_lua_block {
            _G.side:write("mark: from the suite's handle\n")
            _G.side:flush()
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- grep_error_log eval: qr/mark: [^,\n]*/
--- grep_error_log_out eval
["mark: from the suite's handle\n", ""]
