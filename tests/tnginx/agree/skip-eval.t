# skip_eval: a block runs when its Perl code is false (Perl's truth: "", "0" and undef are false)
# and is skipped when it is true.
use Test::Nginx::Socket::Lua;

run_tests();

__DATA__

=== TEST 1: false in Perl: the block runs
--- config
    location = /t { return 200 "ran\n"; }
--- request
GET /t
--- response_body
ran
--- skip_eval: 1: $^O eq 'no such system'



=== TEST 2: true in Perl: the block is skipped
--- config
    location = /t { return 200 "ran\n"; }
--- request
GET /t
--- response_body
not this
--- skip_eval: 1: $^O ne 'no such system'
