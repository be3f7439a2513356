# Test::Base filters with arguments: a filter of the file's own (main::NAME, filter_arguments) and a
# filter method a suite's module adds to Test::Base::Filter (current_arguments), as a DNS library's
# `--- udp_reply dns=tcp`; a stock filter with one (prepend=TEXT); the inline `--- NAME eval: CODE` form.
use Test::Nginx::Socket::Lua;

sub wrap {
    my $with = filter_arguments;
    return "$with$_[0]$with";
}

sub Test::Base::Filter::times {
    my ($self, $value) = @_;
    return $value x ($self->current_arguments // 1);
}

run_tests();

__DATA__

=== TEST 1: a chain of filters with arguments
--- config
    location = /t { return 200 "|ababab|"; }
--- request
GET /t
--- response_body chomp times=3 wrap=|
ab



=== TEST 2: an argument to a filter on the request, the value on the section line
--- config
    location = /t {
        content_by_lua_block { ngx.print(ngx.var.arg_n) }
    }
--- request times=1 eval: "GET /t?n=" . (6 * 7)
--- response_body chomp prepend=4
2
