package t::Demo;
# The demo suite's shared module: a default request and a default no_error_log, as many
# OpenResty libraries' t/ modules do.
use Test::Nginx::Socket::Lua -Base;
use Cwd qw(cwd);

our $pwd = cwd();
our $HttpConfig = qq{
    lua_package_path "$pwd/lib/?.lua;;";
};
our @EXPORT = qw($pwd $HttpConfig);

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("request", "GET /t") unless defined $block->request || defined $block->request_eval;
    $block->set_value("no_error_log", "[error]") unless defined $block->no_error_log;
});

1;
