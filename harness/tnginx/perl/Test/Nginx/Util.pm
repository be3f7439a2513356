package Test::Nginx::Util;
# openresty-harness's stand-in for Test::Nginx::Util (written for the harness, not taken from
# Test::Nginx): the package variables and helpers suites read or call by name. The nginx it names
# ($NginxBinary, from TEST_NGINX_BINARY) is the harness's stand-in script, which answers -V and -v
# as the image that runs the blocks does; versions are learnt from it as Test::Nginx learns them.
use strict;
use warnings;
use Exporter ();

our @ISA = ('Exporter');

our $ServerAddr = '127.0.0.1';
our $ServerName = 'localhost';
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;  # Test::Nginx's
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $NginxBinary = $ENV{TEST_NGINX_BINARY} || 'nginx';
our ($NginxVersion, $NginxRawVersion, $OpenSSLVersion, $PcreVersion);
our $ErrLogFile = $ENV{HARNESS_TNGINX_ERROR_LOG} || '/harness/logs/error.log';
our $ServRoot = '/harness';
our $ConfFile = '/harness/conf/nginx.conf';
our $PidFile = '/harness/logs/nginx.pid';
our $HtmlDir = $ENV{TEST_NGINX_HTML_DIR};
our $RepeatEach = 1;
our $NoLongString;
our $Randomize = 0;
our ($UseHup, $UseValgrind, $UseStap, $Profiling, $CheckLeak, $Benchmark, $BenchmarkWarmup);
our $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;

our @EXPORT = qw(
    $ServerAddr $ServerName $ServerPort $ServerPortForClient $NginxBinary $NginxVersion $PcreVersion
    $ServRoot $ConfFile $PidFile $RepeatEach $NoLongString $CheckLeak $Benchmark $BenchmarkWarmup
    get_canon_version get_nginx_version get_pcre_version parse_time trim show_all_chars is_tcp_port_used
    is_udp_port_used gen_rand_port server_addr server_name timeout expand_env_in_text
);
our @EXPORT_OK = (@EXPORT, qw($NginxRawVersion $OpenSSLVersion $ErrLogFile $HtmlDir $Randomize $UseHup
    $UseValgrind $UseStap $Profiling nginx_V));

sub get_canon_version { sprintf "%d.%03d%03d", @_[0 .. 2] }

# What `$NginxBinary -V` printed ('' when it could not run), asked once.
my $V;
sub nginx_V {
    return $V if defined $V;
    $V = `$NginxBinary -V 2>&1`;
    $V = '' if !defined $V || $? != 0;
    return $V;
}

sub get_nginx_version {
    my $out = nginx_V();
    if ($out =~ m{built with OpenSSL (\d+)\.(\d+)\.(\d+)([a-z])?}) {
        $OpenSSLVersion = defined $4 ? sprintf("%d.%03d%03d%03d", $1, $2, $3, ord($4) - ord('a'))
                                     : get_canon_version($1, $2, $3);
    }
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s) {
        $NginxRawVersion = "$1.$2.$3";
        return get_canon_version($1, $2, $3);
    }
    return undef;
}

sub get_pcre_version {
    my $out = nginx_V();
    return 0 if $out eq '';
    my ($major, $minor) = $out =~ m{nginx version: .*/(\d)\.(\d+)(?:\.\d+)+};
    my $ver = defined $major ? $major * 100 + $minor : 0;
    # the PCRE generation nginx links: PCRE2 from nginx 1.25 on unless built without it
    return 2 if $ver >= 125 && $out !~ /--without-pcre2/;
    return $out =~ /pcre/ ? 1 : 0;
}

# Learnt when run_tests() starts, as under Test::Nginx (a preamble that reads $NginxVersion earlier
# sees it undefined there too).
sub learn_versions {
    $NginxVersion = get_nginx_version();
    $PcreVersion = get_pcre_version();
}

sub parse_time {
    my $t = shift;
    return undef if !defined $t;
    return $1 / 1000 if $t =~ /^\s*(\d+(?:\.\d+)?)\s*ms\s*$/;
    return $1 if $t =~ /^\s*(\d+(?:\.\d+)?)\s*s?\s*$/;
    return $t;
}

sub trim { my $s = shift; return undef if !defined $s; $s =~ s/^\s+|\s+$//g; $s =~ s/\n/ /g; $s }
sub show_all_chars { my $s = shift; $s =~ s/\n/\\n/g; $s =~ s/\r/\\r/g; $s =~ s/\t/\\t/g; $s }
# nothing of the host's runs the blocks: every port is free in the block's container
sub is_tcp_port_used { 0 }
sub is_udp_port_used { 0 }
sub gen_rand_port { 20000 + int(rand(10000)) }
sub server_addr { $ServerAddr = shift if @_; $ServerAddr }
sub server_name { $ServerName = shift if @_; $ServerName }
sub timeout { $Timeout = shift if @_; $Timeout }
sub expand_env_in_text {
    my ($text) = @_;
    $text =~ s/\$(TEST_NGINX_[_A-Z0-9]+)/defined $ENV{$1} ? $ENV{$1} : ''/ge if defined $text;
    return $text;
}

# The preamble functions Test::Nginx::Util also has: the harness records them in Test::Nginx::Socket.
my @Recorded = qw(repeat_each workers master_on master_off master_process_enabled log_level no_shuffle
                  no_root_location worker_connections use_hup check_accum_error_log no_long_string env_to_nginx
                  add_block_preprocessor add_cleanup_handler add_test_cleanup_handler config_preamble
                  no_nginx_manager bail_out is_str html_dir server_root server_port server_port_for_client
                  run_tests);
for my $name (@Recorded) {
    no strict 'refs';
    *{"Test::Nginx::Util::$name"} = sub { require Test::Nginx::Socket; &{"Test::Nginx::Socket::$name"}(@_) };
}
push @EXPORT_OK, @Recorded;

1;
