package Test::Nginx::Socket;
# openresty-harness's stand-in for Test::Nginx::Socket (written for the harness, not taken from
# Test::Nginx). A `.t` file runs under perl with this module first on @INC: its preamble calls
# (repeat_each, add_block_preprocessor, ...) record settings, its data section is parsed in the
# Test::Base format, filters (eval, chomp, ...) and preprocessors run, and run_tests() writes
# every block, with its final sections, as JSON to $ENV{HARNESS_TNGINX_OUT}. Python runs them.
use strict;
use warnings;
use JSON::PP ();

our $VERSION = '0.0-harness';

my %Setting = (
    repeat_each => 1, workers => 1, master_on => 0, log_level => 'debug', no_shuffle => 0,
    no_root_location => 0, worker_connections => 64, use_hup => 0,
    check_accum_error_log => $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG} ? 1 : 0,
    no_long_string => 0, no_diff => 0, env_to_nginx => [], skip_all => undef, plan => undef,
);
my @Preprocessors;
my $Blocks;      # parsed blocks (array of Test::Nginx::Socket::Block), after filters
my $RunCount = 0;

# What Test::Nginx's own package variables would say; suites read a few of them (Util.pm has the rest).
use Test::Nginx::Util ();
our $ServerPort = $Test::Nginx::Util::ServerPort;
our $ServerPortForClient = $ServerPort;
our $NoLongString;

our @EXPORT = qw(
    run_tests run_test blocks plan no_plan repeat_each add_block_preprocessor no_long_string no_shuffle
    no_diff log_level workers master_on master_off master_process_enabled no_root_location
    worker_connections env_to_nginx use_hup check_accum_error_log shutdown_error_log
    no_shutdown_error_log add_cleanup_handler add_test_cleanup_handler add_response_body_check
    bail_out is_str server_port server_port_for_client server_root html_dir html_dir
    no_nginx_manager config_preamble server_addr filters delimiters spec_file no_diag_on_only
    diag note is isnt ok like unlike is_deeply pass fail skip done_testing BAIL_OUT filter_arguments timeout
    server_name $ServerPort $ServerPortForClient $NoLongString
);

# `use Test::Nginx::Socket;` exports the API into the caller. `use Test::Nginx::Socket -Base;`
# (how a suite's t::Module subclasses it) makes the caller a subclass whose own `use` exports
# both its @EXPORT and this API.
sub import {
    my $class = shift;
    my @args = @_;
    my $caller = caller;
    if (grep { defined $_ && $_ eq '-Base' } @args) {
        no strict 'refs';
        push @{"${caller}::ISA"}, $class unless $caller->isa($class);
        _export($class, $caller);
        return;
    }
    if (@args && defined $args[0]) {
        if ($args[0] eq 'no_plan') {
            no_plan();
        } elsif ($args[0] eq 'skip_all') {
            plan(skip_all => $args[1]);
        } elsif ($args[0] eq 'tests') {
            plan(tests => $args[1]);
        }
    }
    _export($class, $caller);
}

sub _export {
    my ($class, $target) = @_;
    no strict 'refs';
    my %seen;
    for my $pkg ($class, __PACKAGE__) {
        for my $sym (@{"${pkg}::EXPORT"}) {
            next if $seen{$sym}++;
            if ($sym =~ /^\$(.+)/) {
                *{"${target}::$1"} = \${"${pkg}::$1"};
            } elsif ($sym =~ /^\@(.+)/) {
                *{"${target}::$1"} = \@{"${pkg}::$1"};
            } elsif ($sym =~ /^%(.+)/) {
                *{"${target}::$1"} = \%{"${pkg}::$1"};
            } else {
                my $name = $sym =~ s/^&//r;
                my $code = $pkg->can($name) or next;
                *{"${target}::$name"} = $code;
            }
        }
    }
}

# ---- preamble functions: they only record ------------------------------------------------------
sub repeat_each { if (@_) { $Setting{repeat_each} = $_[0]; $Test::Nginx::Util::RepeatEach = $_[0]; }
                  return $Setting{repeat_each} }
sub workers { $Setting{workers} = $_[0] if @_; return $Setting{workers} }
sub master_on { $Setting{master_on} = 1 }
sub master_off { $Setting{master_on} = 0 }
sub master_process_enabled { $Setting{master_on} = $_[0] if @_; return $Setting{master_on} }
sub log_level { $Setting{log_level} = $_[0] if @_; return $Setting{log_level} }
sub no_shuffle { $Setting{no_shuffle} = 1 }
sub no_root_location { $Setting{no_root_location} = 1 }
sub worker_connections { $Setting{worker_connections} = $_[0] if @_; return $Setting{worker_connections} }
sub use_hup { $Setting{use_hup} = 1 }
sub check_accum_error_log { $Setting{check_accum_error_log} = 1 }
sub no_long_string { $Setting{no_long_string} = 1; $NoLongString = $Test::Nginx::Util::NoLongString = 1 }
sub no_diff { $Setting{no_diff} = 1 }
sub env_to_nginx { push @{ $Setting{env_to_nginx} }, @_ }
sub shutdown_error_log { }
sub no_shutdown_error_log { }
sub no_nginx_manager { }
sub config_preamble { }
sub add_cleanup_handler { }
sub add_test_cleanup_handler { }
sub add_response_body_check { $Setting{custom_body_checks} = 1 }
sub no_diag_on_only { }
sub delimiters { die "harness: custom Test::Base delimiters are not supported\n" }
sub spec_file { die "harness: spec_file is not supported (blocks come from the file's data section)\n" }
# default filters, as Test::Base's `filters`: a list for every section, or { section => [...] }
my (@DefaultFilters, %SectionFilters);
sub filters {
    for my $arg (@_) {
        if (ref $arg eq 'HASH') {
            while (my ($type, $list) = each %$arg) {
                push @{ $SectionFilters{$type} }, ref $list ? @$list : split(' ', $list);
            }
        } else {
            push @DefaultFilters, ref $arg ? @$arg : $arg;
        }
    }
}
sub filter_arguments { $Test::Base::Filter::arguments }
sub timeout { Test::Nginx::Util::timeout(@_) }
sub server_name { Test::Nginx::Util::server_name(@_) }
# as in Test::Nginx, the preprocessor added last runs first (a file's own before its t::Module's)
sub add_block_preprocessor { unshift @Preprocessors, $_[0] }
sub server_port { $ServerPort }
sub server_port_for_client { $ServerPort }
sub server_addr { Test::Nginx::Util::server_addr(@_) }
sub server_root { $ENV{HARNESS_TNGINX_SERVER_ROOT} || '/harness' }
sub html_dir { $ENV{TEST_NGINX_HTML_DIR} }
sub bail_out { die "Bail out! @_\n" }
sub BAIL_OUT { bail_out(@_) }

sub plan {
    my ($kind, $value) = @_;
    return if !defined $kind;
    if ($kind eq 'skip_all') {
        $Setting{skip_all} = defined $value ? "$value" : 'skip_all';
        _write_out();
        exit 0;
    }
    $Setting{plan} = $kind eq 'tests' ? $value : $kind;
}
sub no_plan { $Setting{plan} = 'no_plan' }

# Test::More functions a preamble may call; they report to stderr and never print TAP.
sub diag { print STDERR "# @_\n" }
sub note { print STDERR "# @_\n" }
sub is { return defined $_[0] && defined $_[1] ? $_[0] eq $_[1] : !defined $_[0] && !defined $_[1] }
sub isnt { return !is(@_) }
sub ok { return $_[0] }
sub like { return $_[0] =~ $_[1] }
sub unlike { return $_[0] !~ $_[1] }
sub is_deeply { return 1 }
sub is_str { return is(@_) }
sub pass { 1 }
sub fail { 0 }
sub skip { no warnings 'exiting'; last SKIP }
sub done_testing { }

# ---- Test::Base data ------------------------------------------------------------------------
sub _spec_text {
    my $file = $0;
    open my $in, '<', $file or die "harness: cannot read $file: $!\n";
    binmode $in;
    local $/;
    my $text = <$in>;
    close $in;
    return '' unless $text =~ /^__(?:DATA|END)__[ \t]*\r?\n/m;
    return substr($text, $+[0]);
}

# Like Test::Base's eval filter, code that does not compile yields its error message as the value.
sub _eval_filter {
    my $code = join '', @_;
    my @result = _eval_in_main($code);
    return $@ if $@;
    return @result;
}

# Test::Nginx runs a skip_eval's code in its Util package, in scalar context: the code sees that
# package's variables by their short names ($NginxBinary, $NginxVersion ...), which main does not.
sub _eval_in_util {
    package Test::Nginx::Util;
    no strict;
    no warnings;
    return scalar eval $_[0];
}

sub _eval_in_main {
    package main;
    no strict;
    no warnings;
    return eval $_[0];
}

sub _parse_blocks {
    my $text = _spec_text();
    my @blocks;
    my $seq = 0;
    my @chunks = split /^(?====(?:[ \t]|$))/m, $text;
    shift @chunks if @chunks && $chunks[0] !~ /^===/;
    for my $chunk (@chunks) {
        my ($head, $rest) = $chunk =~ /\A===[ \t]*([^\n]*)\n?(.*)\z/s;
        $head =~ s/\s+\z//;
        my $block = Test::Nginx::Socket::Block->new(name => $head, seq_num => ++$seq);
        my @parts = split /^(?=---[ \t]+\S)/m, $rest;
        my $description = ($parts[0] // '') !~ /^---[ \t]+\S/ ? shift @parts : '';
        $block->{description} = $description;
        my $line_of_block = 0;
        for my $part (@parts) {
            my ($line, $body) = $part =~ /\A---[ \t]+([^\n]*)\n?(.*)\z/s;
            # Test::Base's section line: NAME (or (NAME)), then filters, each maybe NAME=ARGUMENT;
            # a ':' followed by a blank (or the end) starts the value on the same line
            my ($name, $filters) = $line =~ /\A\(?(\w+)\)?[ \t]*(.*?)[ \t]*\z/
                or die "harness: block '$head': cannot read the section line '--- $line'\n";
            my $value = $body;
            if ($filters =~ /:(?:\s|\z)/) {
                ($filters, $value) = split /\s*:(?:\s+|\z)/, $filters, 2;
                $value = '' unless defined $value;
                $value =~ s/\A\s*(.*?)\s*\z/$1/s;
            }
            push @{ $block->{raw} }, [$name, [split ' ', $filters // ''], $value];
        }
        push @blocks, $block;
    }
    return \@blocks;
}

# In scalar context (`plan tests => blocks() * 3`, before the preamble's `our $HttpConfig = ...`
# has run) only the count; filters run at the first call in list context, as in Test::Base.
sub blocks {
    $Blocks ||= _parse_blocks();
    return scalar @$Blocks unless wantarray;
    $_->_run_filters for @$Blocks;
    return @$Blocks;
}

# ---- run_tests: hand the finished blocks to the harness -------------------------------------
my %ExpandEnv = map { $_ => 1 } qw(config http_config main_config post_main_config server_config request
    raw_request pipelined_requests more_headers user_files init_by_lua init_by_lua_block
    grep_error_log_out error_log no_error_log response_body response_body_like response_headers
    stream_config stream_server_config stream_server_config2 stream_server_config3 tcp_listen udp_listen
    error_log_file);

sub _expand_env {
    my ($value, $name) = @_;
    return $value if !defined $value;
    if (ref $value eq 'ARRAY') {
        return [map { _expand_env($_, $name) } @$value];
    }
    if (ref $value eq 'HASH') {
        return { map { $_ => _expand_env($value->{$_}, $name) } keys %$value };
    }
    return $value if ref $value;
    $value =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{ _env_value($1, $name) }ge;
    return $value;
}

sub _server_port_in {
    my ($v) = @_;
    return [map { _server_port_in($_) } @$v] if ref $v eq 'ARRAY';
    return $v if ref $v;
    (my $out = $v) =~ s/\$ServerPort(?:ForClient)?\b/$ServerPort/g;
    return $out;
}

# Test::Nginx gives TEST_NGINX_RAND_PORT_N a free port; in the harness's container any port is free.
sub _env_value {
    my ($var, $name) = @_;
    # never a resolver a file names (8.8.8.8, say): the harness's own DNS server
    return $ENV{HARNESS_TNGINX_RESOLVER} if $var eq 'TEST_NGINX_RESOLVER' && $ENV{HARNESS_TNGINX_RESOLVER};
    return $ENV{$var} if defined $ENV{$var};
    if ($var =~ /^TEST_NGINX_RAND_PORT_(\d+)$/) {
        return $ENV{$var} = 20000 + $1;
    }
    die "harness: block '$name': environment variable $var is not set\n";
}

sub run_tests {
    $RunCount++;
    Test::Nginx::Util::learn_versions();
    my @blocks = blocks();
    for my $block (@blocks) {
        for my $pre (@Preprocessors) {
            $pre->($block);
        }
    }
    for my $block (@blocks) {
        for my $key (keys %{ $block->{values} }) {
            next unless $ExpandEnv{$key};
            my $v = eval { _expand_env($block->{values}{$key}, $block->{name}) };
            if ($@) { $block->{error} = $@; last }
            $block->{values}{$key} = $v;
        }
        # Test::Nginx writes the server's port for $ServerPort in expected headers and bodies
        for my $key (qw(response_headers response_headers_like response_body response_body_like response_body_unlike)) {
            my $v = $block->{values}{$key};
            next unless defined $v;
            $block->{values}{$key} = _server_port_in($v);
        }
        # the deprecated *_eval sections are Perl code Test::Nginx evaluates itself
        for my $key (qw(request_eval response_body_eval)) {
            my $v = $block->{values}{$key};
            next unless defined $v && !ref $v;
            my @r = _eval_filter($v);
            $block->{values}{$key} = @r == 1 ? $r[0] : [@r];
        }
        for my $key (qw(skip_eval)) {
            my $v = $block->{values}{$key};
            next unless defined $v && !ref $v;
            my ($count, $code) = $v =~ /\A\s*(\d+)\s*:\s*(.*?)\s*\z/s
                or die "harness: block '$block->{name}': skip_eval must read 'COUNT: PERL CODE'\n";
            my $skip = _eval_in_util($code);
            die "harness: block '$block->{name}': skip_eval code failed: $@" if $@;
            $block->{values}{skip_eval_result} = $skip ? JSON::PP::true : JSON::PP::false;
        }
    }
    return _serve_calls(\@blocks) if $ENV{HARNESS_TNGINX_CALLS};
    _write_out();
}

# Call mode (HARNESS_TNGINX_CALLS set): a section given as a Perl sub (`--- udp_reply eval: sub {...}`)
# is called as Test::Nginx calls it, with what the mock peer received. Requests come on stdin as
# "SEQ SECTION LENGTH\n" and LENGTH bytes; the answer goes to the file descriptor HARNESS_TNGINX_CALLS
# names (the file's own prints keep stdout) as "N\n" then N times "LENGTH\n" and the bytes (one piece for a string, one a
# piece for an array), or "ERR message\n".
sub _serve_calls {
    my ($blocks) = @_;
    my %by_seq = map { $_->{seq_num} => $_ } @$blocks;
    my $fd = $ENV{HARNESS_TNGINX_CALLS};
    open my $out, '>&=', $fd or die "harness: call mode: cannot write to file descriptor $fd: $!\n";
    binmode $out;
    binmode STDIN;
    $out->autoflush(1);
    while (defined(my $head = <STDIN>)) {
        my ($seq, $section, $len) = $head =~ /\A(\d+) (\w+) (\d+)\n\z/
            or do { print $out "ERR bad request line\n"; next };
        my $query = '';
        read(STDIN, $query, $len) == $len or last if $len;
        my $block = $by_seq{$seq};
        my $code = $block ? $block->{values}{$section} : undef;
        if (ref $code ne 'CODE') {
            print $out "ERR block $seq has no Perl sub in $section\n";
            next;
        }
        my @reply = eval { my $r = $code->($query); ref $r eq 'ARRAY' ? @$r : ($r) };
        if ($@) {
            (my $err = $@) =~ s/\s+/ /g;
            print $out "ERR $section: $err\n";
            next;
        }
        print $out scalar(@reply), "\n";
        for my $piece (@reply) {
            $piece = '' if !defined $piece;
            utf8::encode($piece) if utf8::is_utf8($piece) && $piece =~ /[^\x00-\xff]/;
            print $out length($piece), "\n", $piece;
        }
    }
    exit 0;
}

sub run_test { die "harness: run_test(\$block) per block is not supported; use run_tests()\n" }

sub _jsonable {
    my ($v) = @_;
    return undef if !defined $v;
    my $r = ref $v;
    if (!$r) {
        if (utf8::is_utf8($v)) {
            my $copy = $v;
            utf8::encode($copy) if $copy =~ /[^\x00-\xff]/;
            return "$copy";
        }
        return "$v";
    }
    if ($r eq 'Regexp') {
        my ($pat, $mods) = re::regexp_pattern($v);
        return { '__re__' => $pat, 'flags' => $mods };
    }
    return [map { _jsonable($_) } @$v] if $r eq 'ARRAY';
    return { map { $_ => _jsonable($v->{$_}) } keys %$v } if $r eq 'HASH';
    return _jsonable($$v) if $r eq 'SCALAR' || $r eq 'REF';
    return "$v";
}

sub _write_out {
    my $out = $ENV{HARNESS_TNGINX_OUT} or die "harness: HARNESS_TNGINX_OUT is not set (run this file with `harness t`)\n";
    my @blocks = $Setting{skip_all} ? () : blocks();
    my @list;
    for my $b (@blocks) {
        push @list, {
            name => $b->{name}, seq_num => $b->{seq_num},
            order => $b->{order}, error => $b->{error},
            sections => { map { $_ => _jsonable($b->{values}{$_}) } keys %{ $b->{values} } },
        };
    }
    my %settings = %Setting;
    $settings{run_tests} = $RunCount;
    $settings{server_port} = $Test::Nginx::Util::ServerPort;  # the blocks' server listens there
    # what the file put into %ENV for nginx to see (a block's `env NAME;` passes it on to Lua)
    $settings{environment} = { map { $_ => "$ENV{$_}" } grep { /^TEST_NGINX_/ } keys %ENV };
    my $json = JSON::PP->new->latin1->canonical->encode({ settings => _jsonable(\%settings), blocks => \@list });
    open my $fh, '>', $out or die "harness: cannot write $out: $!\n";
    binmode $fh;
    print $fh $json;
    close $fh;
}

END {
    # a file that never calls run_tests(): the harness says so instead of running anything
    _write_out() if !$RunCount && !$Setting{skip_all} && $? == 0 && $ENV{HARNESS_TNGINX_OUT};
}

# ---- a block ------------------------------------------------------------------------------
package Test::Nginx::Socket::Block;
use strict;
use warnings;

our $AUTOLOAD;

sub new {
    my ($class, %args) = @_;
    return bless { %args, values => {}, order => [], raw => [] }, $class;
}

sub _run_filters {
    my ($self) = @_;
    return if $self->{filtered}++;
    $self->_add_section(@$_) for @{ $self->{raw} || [] };
}

# Test::Base's filter chain: the default filters (norm, trim and those given to `filters`), the
# section's own (`-NAME` drops a default, `+NAME` runs last); each filter may carry `=ARGUMENT`
# (filter_arguments / current_arguments). A filter is main::NAME if the file defines it, else a
# method of Test::Base::Filter (the stock ones below, or a suite's own `sub Test::Base::Filter::NAME`).
sub _filter_chain {
    my ($name, $filters) = @_;
    my (@chain, @last);
    for my $given (qw(norm trim), @DefaultFilters, @{ $SectionFilters{$name} || [] }, @$filters) {
        my $f = $given;
        if ($f =~ s/^-//) {
            @chain = grep { (my $bare = $_) =~ s/=.*//s; $bare ne $f } @chain;
        } elsif ($f =~ s/^\+//) {
            push @last, $f;
        } else {
            push @chain, $f;
        }
    }
    return (@chain, @last);
}

sub _add_section {
    my ($self, $name, $filters, $value) = @_;
    my @data = ($value);
    $self->{values}{$name} = $value;  # filters may look at the block's other sections
    for my $spec (_filter_chain($name, $filters)) {
        my ($f, $arg) = $spec =~ /\A([^=]*)(?:=(.*))?\z/s;
        local $Test::Base::Filter::arguments = $arg;
        my $function = main->can($f);
        if ($function) {
            # as Test::Base: $_ holds the joined value; a filter returning nothing or a number
            # (one that munged $_ in place) leaves $_ as the value
            local $_ = (@data == 1 && !defined $data[0]) ? undef : join '', map { $_ // '' } @data;
            my @out = $function->(@data);
            @data = (!@out || (@out == 1 && defined $out[0] && $out[0] =~ /\A(\d+|)\z/)) ? ($_) : @out;
        } else {
            my $object = Test::Base::Filter->new($self);
            $object->can($f)
                or die "harness: block '$self->{name}': unknown filter '$f' in section '$name'\n";
            @data = $object->$f(@data);
        }
        $self->{values}{$name} = @data == 1 ? $data[0] : @data == 0 ? undef : [@data];
    }
    push @{ $self->{order} }, $name;
    $self->{values}{$name} = @data == 1 ? $data[0] : @data == 0 ? undef : [@data];
}

sub name { $_[0]{name} }
sub seq_num { $_[0]{seq_num} }
sub description { $_[0]{description} }
sub blocks_object { undef }
sub is_filtered { 1 }
sub original_values { $_[0]{values} }

sub set_value {
    my ($self, $name, @value) = @_;
    push @{ $self->{order} }, $name unless exists $self->{values}{$name};
    $self->{values}{$name} = @value == 1 ? $value[0] : [@value];
    return $self;
}

sub AUTOLOAD {
    my $self = shift;
    my $name = $AUTOLOAD =~ s/.*:://r;
    return if $name eq 'DESTROY';
    my $v = $self->{values}{$name};
    return $v;
}

sub DESTROY { }

# ---- Test::Base's stock filters ---------------------------------------------------------------
# Methods, as in Test::Base: a suite adds its own with `sub Test::Base::Filter::NAME { my ($self,
# @value) = @_; ... $self->current_arguments ... $self->current_block ... }`.
package Test::Base::Filter;
use strict;
use warnings;

our $arguments;

sub new { my ($class, $block) = @_; return bless { block => $block }, $class }
sub current_block { $_[0]{block} }
sub current_arguments { $arguments }

sub _each { my ($code, @v) = @_; return map { my $s = $_; $code->() for $s; $s } @v }
sub norm { shift; _each(sub { if (defined) { s/\r\n/\n/g; s/\r/\n/g } }, @_) }
sub trim { shift; _each(sub { if (defined) { s/\A(?:[ \t]*\n)+//; s/(?<=\n)\s*\z// } }, @_) }
sub chomp { shift; _each(sub { CORE::chomp if defined }, @_) }
sub chop { shift; _each(sub { CORE::chop if defined }, @_) }
sub unchomp { shift; _each(sub { $_ .= "\n" if defined && !/\n\z/ }, @_) }
sub append { my $self = shift; my $add = $self->current_arguments // ''; _each(sub { $_ .= $add if defined }, @_) }
sub prepend { my $self = shift; my $add = $self->current_arguments // ''; _each(sub { $_ = $add . $_ if defined }, @_) }
sub lines {
    shift;
    my $s = CORE::join '', map { $_ // '' } @_;
    my @lines = $s =~ /^(.*\n?)/mg;
    CORE::pop @lines if @lines && $lines[-1] eq '';
    return @lines;
}
sub array { shift; return [@_] }
sub join { my $self = shift; return CORE::join($self->current_arguments // '', @_) }
sub split {
    my ($self, $s) = @_;
    my $by = $self->current_arguments;
    $by = defined $by && $by =~ m{\A/(.*)/\z}s ? qr/$1/ : defined $by && $by ne '' ? $by : qr/\s+/;
    return CORE::split($by, $s // '');
}
sub reverse { shift; return CORE::reverse(@_) }
sub sort { shift; return CORE::sort(@_) }
sub head { my $self = shift; my $n = $self->current_arguments || 1; return @_[0 .. ($n > @_ ? $#_ : $n - 1)] }
sub tail { my $self = shift; my $n = $self->current_arguments || 1; $n = @_ if $n > @_; return @_[@_ - $n .. $#_] }
sub base64_decode { shift; require MIME::Base64; return map { MIME::Base64::decode_base64($_) } @_ }
sub base64_encode { shift; require MIME::Base64; return map { MIME::Base64::encode_base64($_) } @_ }
sub escape { shift; _each(sub { s/(\\.)/CORE::eval "qq{$1}"/ge if defined }, @_) }
sub eval { shift; return Test::Nginx::Socket::_eval_filter(@_) }
sub regexp {
    my ($self, $s) = @_;
    my $flags = $self->current_arguments;
    if ($s =~ /\n.*?\n/s) { $flags //= 'xism' } else { CORE::chomp $s }
    $flags //= '';
    my $re = CORE::eval "qr{\$s}$flags";
    die $@ if $@;
    return $re;
}
sub exec_perl_stdout { shift; my $code = CORE::join '', @_; my $out = `$^X -e \Q$code\E 2>&1`; return $out }

1;
