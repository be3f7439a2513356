# A file outside the suite that a config names by absolute path ($TEST_NGINX_CERT_DIR, set by the
# test that runs this file): under prove nginx opens it on the host; the harness mounts the directory
# holding it into the container, read-only, at that same path.
use Test::Nginx::Socket::Lua;

run_tests();

__DATA__

=== TEST 1: a host file named by absolute path is read where the config says
--- config
    location = /t {
        content_by_lua_block {
            local f, err = io.open("$TEST_NGINX_CERT_DIR/answer.txt", "r")
            if not f then
                ngx.say("cannot open: ", err)
                return
            end
            local text = f:read("*l")
            f:close()
            ngx.say("read: ", text)
        }
    }
--- request
GET /t
--- response_body
read: from the host
--- no_error_log
[error]
