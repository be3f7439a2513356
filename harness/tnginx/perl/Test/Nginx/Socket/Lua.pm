package Test::Nginx::Socket::Lua;
# openresty-harness's stand-in for Test::Nginx::Socket::Lua: Test::Nginx::Socket plus the
# TEST_NGINX_INIT_BY_LUA variable (Lua code run by init_by_lua in every block).
use strict;
use warnings;
use Test::Nginx::Socket -Base;

our @EXPORT = ();

if (my $code = $ENV{TEST_NGINX_INIT_BY_LUA}) {
    add_block_preprocessor(sub {
        my $block = shift;
        my $http = $block->http_config // '';
        if ($http =~ /\binit_by_lua_block\s*\{/) {
            $http =~ s/\binit_by_lua_block\s*\{/init_by_lua_block { $code /;
        } elsif ($http !~ /\binit_by_lua(?:_file)?\b/) {
            $http .= "\n    init_by_lua_block { $code }\n";
        }
        $block->set_value(http_config => $http);
    });
}

1;
