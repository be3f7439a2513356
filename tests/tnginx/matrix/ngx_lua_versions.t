# A matrix fixture (tests/integration/test_matrix.py): run on both twins, TEST 1 passes on each and
# TEST 2 only on the newer one: ngx.decode_base64mime is in the trixie twin (ngx_lua 0.10.28,
# lua-resty-core 0.1.31) and not in the bookworm twin (ngx_lua 0.10.23, lua-resty-core 0.1.25), as
# a listing of `ngx` on both showed. Not below a t/ directory: `make test` does not collect it on
# one image alone.
use Test::Nginx::Socket::Lua;
repeat_each(1);
run_tests();

__DATA__

=== TEST 1: ngx.decode_base64 (every ngx_lua)
--- config
    location = /t {
        content_by_lua_block {
            local text, err = ngx.decode_base64("aGFybmVzcw==")
            if not text then
                ngx.log(ngx.ERR, "decode_base64 failed: ", err)
                return ngx.exit(500)
            end
            ngx.say(text)
        }
    }
--- request
GET /t
--- response_body
harness
--- no_error_log
[error]



=== TEST 2: ngx.decode_base64mime skips line breaks (ngx_lua 0.10.28, not 0.10.23)
--- config
    location = /t {
        content_by_lua_block {
            local text = ngx.decode_base64mime("aGFy\r\nbmVz\r\ncw==")
            ngx.say(text)
        }
    }
--- request
GET /t
--- response_body
harness
--- no_error_log
[error]
