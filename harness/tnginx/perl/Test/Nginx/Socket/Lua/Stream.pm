package Test::Nginx::Socket::Lua::Stream;
# openresty-harness's stand-in for Test::Nginx::Socket::Lua::Stream (written for the harness):
# Test::Nginx::Socket::Lua with the stream_* sections. Their blocks are handed over as they are;
# the harness renders them (harness/tnginx/stream.py) and runs them where the image has
# ngx_stream_lua_module, else reports them skipped with that reason.
use strict;
use warnings;
use Test::Nginx::Socket::Lua -Base;

our @EXPORT = ();

1;
