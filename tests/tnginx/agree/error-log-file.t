# --- error_log_file: Test::Nginx sends the error log there (a syslog server, say); the harness logs
# there too, beside its own error.log, which the block's checks read.
use Test::Nginx::Socket::Lua;

$ENV{TEST_NGINX_SYSLOG_PORT} ||= 19514;
run_tests();

__DATA__

=== TEST 1: an error line reaches the syslog peer the block names, and error.log
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.ERR, "to the syslog peer")
            ngx.say("ok")
        }
    }
--- log_level: error
--- error_log_file: syslog:server=127.0.0.1:$TEST_NGINX_SYSLOG_PORT
--- udp_listen: $TEST_NGINX_SYSLOG_PORT
--- udp_query eval: qr/to the syslog peer/
--- udp_reply: x
--- request
GET /t
--- response_body
ok
--- error_log
to the syslog peer



=== TEST 2: the workers log to the syslog peer as they start (0.1 s in): the peer listens by then
--- http_config
    init_worker_by_lua_block {
        os.execute("sleep 0.1")
        ngx.log(ngx.ERR, "a worker started")
    }
--- config
    location = /t { return 200 "ok\n"; }
--- log_level: error
--- error_log_file: syslog:server=127.0.0.1:$TEST_NGINX_SYSLOG_PORT
--- udp_listen: $TEST_NGINX_SYSLOG_PORT
--- udp_query eval: qr/a worker started/
--- udp_reply: x
--- request
GET /t
--- response_body
ok
--- error_log
a worker started
