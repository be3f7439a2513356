# For tests/integration/test_tnginx.py: under use_hup(), Test::Nginx HUPs its running nginx into
# every block, and a block may expect its own reload's lines; the harness HUPs a container it
# started for the block once more. The same block without use_hup() is in no-hup.t.
use Test::Nginx::Socket::Lua;
use_hup();
repeat_each(1);
run_tests();

__DATA__

=== TEST 1: the block sees the reload that loaded it
--- config
    location = /t { return 200 "reloaded\n"; }
--- request
GET /t
--- response_body
reloaded
--- error_log eval
qr/\[notice\] .*? \(SIGHUP\) received/
