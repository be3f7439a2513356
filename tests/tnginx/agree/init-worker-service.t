# A service the suite looks for on 127.0.0.1 is there when the workers start, as under prove: a timer
# that init_worker_by_lua starts at once connects to memcached at 127.0.0.1:$TEST_NGINX_MEMCACHED_PORT.
use Test::Nginx::Socket::Lua;

$ENV{TEST_NGINX_MEMCACHED_PORT} ||= 11211;
run_tests();

__DATA__

=== TEST 1: a timer of init_worker_by_lua finds memcached on 127.0.0.1 at once
--- http_config
    init_worker_by_lua_block {
        local function handler()
            local sock = ngx.socket.tcp()
            sock:settimeout(2000)
            local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_MEMCACHED_PORT)
            if not ok then
                ngx.log(ngx.ERR, "failed to connect: ", err)
                _G.done = true
                return
            end
            sock:send("version\r\n")
            local line = sock:receive()
            ngx.log(ngx.WARN, "memcached said: ", line and line:sub(1, 7))
            sock:close()
            _G.done = true
        end
        assert(ngx.timer.at(0, handler))
    }
--- config
    location = /t {
        content_by_lua_block {
            local waited = 0
            while not _G.done and waited < 2 do
                ngx.sleep(0.01)
                waited = waited + 0.01
            end
            ngx.say(_G.done and "done" or "timed out")
        }
    }
--- request
GET /t
--- response_body
done
--- error_log
memcached said: VERSION
--- no_error_log
[error]



=== TEST 2: a user file names the service's port variable (init_worker_by_lua_file)
--- http_config
    init_worker_by_lua_file html/worker.lua;
--- user_files
>>> worker.lua
local function handler()
    local sock = ngx.socket.tcp()
    sock:settimeout(2000)
    local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_MEMCACHED_PORT)
    if not ok then
        ngx.log(ngx.ERR, "failed to connect: ", err)
        _G.done = true
        return
    end
    sock:send("version\r\n")
    local line = sock:receive()
    ngx.log(ngx.WARN, "memcached said: ", line and line:sub(1, 7))
    sock:close()
    _G.done = true
end
assert(ngx.timer.at(0, handler))
--- config
    location = /t {
        content_by_lua_block {
            local waited = 0
            while not _G.done and waited < 2 do
                ngx.sleep(0.01)
                waited = waited + 0.01
            end
            ngx.say(_G.done and "done" or "timed out")
        }
    }
--- request
GET /t
--- response_body
done
--- error_log
memcached said: VERSION
--- no_error_log
[error]



=== TEST 3: the service's port variable passed to the workers by env, read with os.getenv
--- main_config
env TEST_NGINX_MEMCACHED_PORT;
--- http_config
    init_worker_by_lua_file html/worker.lua;
--- user_files
>>> worker.lua
local function handler()
    local sock = ngx.socket.tcp()
    sock:settimeout(2000)
    local ok, err = sock:connect("127.0.0.1", tonumber(os.getenv("TEST_NGINX_MEMCACHED_PORT")))
    if not ok then
        ngx.log(ngx.ERR, "failed to connect: ", err)
        _G.done = true
        return
    end
    sock:send("version\r\n")
    local line = sock:receive()
    ngx.log(ngx.WARN, "memcached said: ", line and line:sub(1, 7))
    sock:close()
    _G.done = true
end
assert(ngx.timer.at(0, handler))
--- config
    location = /t {
        content_by_lua_block {
            local waited = 0
            while not _G.done and waited < 2 do
                ngx.sleep(0.01)
                waited = waited + 0.01
            end
            ngx.say(_G.done and "done" or "timed out")
        }
    }
--- request
GET /t
--- response_body
done
--- error_log
memcached said: VERSION
--- no_error_log
[error]
