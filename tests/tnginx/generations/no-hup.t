# The twin of hup.t without use_hup(): a container started for the block logged no reload, so
# its error_log check fails (the harness does not make the line up).
use Test::Nginx::Socket::Lua;

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
