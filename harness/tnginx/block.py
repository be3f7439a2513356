"""A Test::Nginx block as the harness runs it: the fixture (config in the default server, as
Test::Nginx::Socket documents it), the requests to send, and what to expect of each answer and of
error.log. Built from the sections the Perl shim handed over; nothing here runs anything."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

from harness.nginx_conf import ABSOLUTE_FILES, Fixture
from harness.tnginx import stream
from harness.tnginx.load import BLOCK_ENV, DEFAULT_SERVER_PORT, RawBlock, Regex, perl_true
from harness.tnginx.peers import Peers, TcpPeer, UdpPeer
from harness.wire import Packet

Pattern = Union[str, Regex]
DEFAULT_TIMEOUT = 3.0  # seconds between two I/O events, as Test::Nginx's client

# Sections Test::Nginx documents that the harness does not run, with the reason (README lists them).
# (stap, stap_out, stap_out_like, stap_out_unlike are not among them: Test::Nginx ignores them unless
# TEST_NGINX_USE_STAP is set, so the harness ignores them too and checks the rest of the block.)
UNSUPPORTED = {
    "shutdown_error_log": "the harness reuses the nginx master between blocks (HUP) and never stops it per block",
    "post_main_config": "the harness renders nginx.conf and has no slot after http {}",
    "post_setup_server_root": "Perl code against Test::Nginx's server root (t/servroot) does not apply",
    "init": "per-block Perl code at run time is not supported",
    "http2": "HTTP/2 is not supported by the harness's client", "http3": "HTTP/3 is not supported",
    "curl": "curl mode is not supported", "curl_protocol": "curl mode is not supported",
"access_log": "the harness writes its own access_log format",
    "no_access_log": "the harness writes its own access_log format",
    "server_name": "the default server's name is fixed (localhost)", "reload_fails": "not supported",
    "server_addr_for_client": "the harness connects to the container's own address",
    "response_body_filters": "not supported", "response_body_json_sort": "not supported",
    "skip_openssl": "not supported", "todo": "not supported",
}


TIMER = re.compile(r"\bngx\.timer\.(?:at|every)\b")
CLOCK = re.compile(r"\bngx\.(?:now|sleep|update_time)\b")


@dataclass(frozen=True)
class WireRequest:
    """One connection's worth of bytes to send, and how many answers to read from it."""

    packets: tuple[Packet, ...]
    answers: int = 1
    label: str = ""


@dataclass(frozen=True)
class Expect:
    """What one answer must be (None: not checked)."""

    status: Optional[Union[int, Regex]] = 200
    body: Optional[bytes] = None
    body_like: Optional[Pattern] = None
    body_unlike: Optional[Pattern] = None
    headers: tuple[tuple[str, Optional[str]], ...] = ()  # name, value (None: must be absent)
    headers_like: tuple[tuple[str, Regex], ...] = ()
    raw_headers_like: Optional[Pattern] = None
    raw_headers_unlike: Optional[Pattern] = None
    no_response: bool = False  # an empty error_code: Test::Nginx then expects no status line at all


@dataclass(frozen=True)
class LogExpect:
    """error.log expectations of one repetition."""

    present: tuple[Pattern, ...] = ()
    absent: tuple[Pattern, ...] = ()
    grep: Optional[Pattern] = None
    grep_out: Optional[Union[str, Regex]] = None


@dataclass(frozen=True)
class TBlock:
    """A block ready to run."""

    name: str
    number: int
    fixture: Fixture
    requests: tuple[WireRequest, ...]
    expects: tuple[Expect, ...]  # one per answer, in order
    log: tuple[LogExpect, ...]  # one per repetition (the last one repeats)
    log_level: str = "debug"
    workers: int = 1
    timeout: float = DEFAULT_TIMEOUT
    abort: bool = False
    shutdown: Optional[int] = None  # --- shutdown: the client shuts this direction down after writing
    http09: bool = False  # --- http09: the answer is a bare HTTP/0.9 body
    wait: float = 0.0
    ignore_response: bool = False
    must_die: bool = False
    no_check_leak: bool = False
    skip_eval: bool = False  # the block's --- skip_eval code (run by perl) said skip
    skip_nginx: Optional[str] = None  # "< 1.2.3" style conditions, evaluated against the running nginx
    skip_nginx2: Optional[str] = None
    unsupported: tuple[str, ...] = ()
    needs_modules: tuple[str, ...] = ()  # image modules the block needs beyond ngx_lua (a stream block's)
    error: str = ""
    uses: frozenset[str] = field(default_factory=frozenset)  # sections the block has
    env: Mapping[str, str] = field(default_factory=dict)  # the container's environment for `env NAME;`
    # the file said use_hup(): Test::Nginx HUPs its running nginx into each block, which then sees
    # its own reload's lines (the master's "(SIGHUP) received"): a fresh container is HUPed once too
    reloaded: bool = False
    # check_accum_error_log() (or TEST_NGINX_CHECK_ACCUM_ERR_LOG): Test::Nginx reads error.log from its
    # start at every check, so each repetition's checks see the lines of the repetitions before it too
    accum_log: bool = False
    peers: Peers = Peers()  # tcp_listen / udp_listen: run by the container's companion
    test_env: Mapping[str, str] = field(default_factory=dict)  # the file's TEST_NGINX_* (placeholders included)
    named_services: tuple[str, ...] = ()  # the session services its file's configs name (harness.services.named_in)
    source: str = ""  # the .t file it came from (perl calls its subs there: harness.tnginx.perlcalls)
    # it looks at the client's address: its requests go from the container's 127.0.0.1 (the companion
    # sends them), where Test::Nginx's client is (see observes_client_address)
    local_client: bool = False

    @property
    def needs_fresh_master(self) -> bool:
        """Whether the block reads what a master reused by HUP remembers of its older workers
        (``ngx.worker.pids()`` lists the slots a new worker inherits): it gets a container of its own."""
        return any("ngx.worker.pids" in text for text in self.fixture.snippets.values())

    @property
    def works_at_start(self) -> bool:
        """Whether its workers do something as they start (init_worker_by_lua: a timer that connects to
        a service or a peer), which under Test::Nginx happens just before the requests."""
        return any("init_worker_by_lua" in text for text in self.fixture.snippets.values())

    @property
    def code(self) -> str:
        """What nginx runs for it: the config snippets and the user files that name a placeholder (a
        Lua file of html/ that connects to ``$TEST_NGINX_MEMCACHED_PORT``), as one text."""
        files = (self.fixture.files[rel].decode("latin-1") for rel in self.fixture.filled)
        return "".join([*self.fixture.snippets.values(), *files])

    @property
    def timed(self) -> bool:
        """Whether its verdict depends on when its timers fire: it starts a timer (ngx.timer.at/every)
        and measures time (ngx.now), races a sleep (ngx.sleep) or waits for the timer (``--- wait``); or
        a mock peer delays its reply (``tcp_reply_delay``, ``udp_reply_delay``: against the client's
        timeouts). Such a block runs alone (see harness.tnginx.items.BlockJob), as every block does under prove."""
        if any(p is not None and p.reply_delay > 0 for p in (self.peers.tcp, self.peers.udp)):
            return True
        text = "".join(self.fixture.snippets.values())
        return TIMER.search(text) is not None and (self.wait > 0 or CLOCK.search(text) is not None)

    def log_for(self, repetition: int) -> LogExpect:
        return self.log[min(repetition, len(self.log) - 1)] if self.log else LogExpect()


class BlockError(ValueError):
    """A section the harness cannot read (bad request line, wrong type)."""


def _bytes(text: str) -> bytes:
    """Section text came from perl as latin-1 code points: its original bytes."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _text(value: Any) -> str:
    """Config text as nginx will read it (UTF-8 in the file)."""
    return _bytes(value).decode("utf-8", "replace") if isinstance(value, str) else str(value)


def _pattern_text(value: Any) -> Any:
    """A pattern as the decoded answer is matched against (UTF-8, not perl's latin-1 code points)."""
    if isinstance(value, Regex):
        return Regex(_text(value.pattern), value.flags)
    return _text(value) if isinstance(value, str) else value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def patterns(value: Any) -> tuple[Pattern, ...]:
    """error_log / no_error_log: a string is one pattern per line; arrays and qr// as given."""
    if value is None:
        return ()
    if isinstance(value, Regex):
        return (value,)
    if isinstance(value, list):
        return tuple(v if isinstance(v, Regex) else _text(str(v)) for v in value if v is not None and v != "")
    return tuple(line for line in _text(str(value)).rstrip("\n").split("\n") if line)


def lua_first(http_config: str, directive: str, code: str) -> Optional[str]:
    """``code`` run first in the block's own ``directive`` (``init_by_lua`` ...: its ``_block`` form
    or a quoted string; not in comments), on the same line so nginx's line numbers stay the block's;
    None when the block has no such directive (or only ``_file``)."""
    block = re.compile(rf"^([^#\n]*\b{directive}_block\s*\{{)", re.MULTILINE)
    if block.search(http_config):
        return block.sub(lambda m: m.group(1) + " " + code, http_config, count=1)
    quoted = re.search(rf"^[^#\n]*\b{directive}\s+(['\"])", http_config, re.MULTILINE)
    if quoted:
        text = code if quoted.group(1) == "'" else code.replace('"', "'")
        return http_config[:quoted.end()] + text + http_config[quoted.end():]
    return None


# Under Test::Nginx every block gets a new nginx, so its shared dicts start empty; a HUP keeps a
# zone of the same name and size with its data. The master empties them before the block's own
# init_by_lua runs (flush_expired frees what flush_all expired).
EMPTY_SHARED_DICTS = ('for name, dict in pairs(ngx.shared) do if name ~= "harness_control" then '
                      'dict:flush_all() dict:flush_expired() end end ')


def empty_dicts_in_init(http_config: str) -> str:
    """The block's http_config with its shared dicts emptied at init: first in its own init_by_lua,
    or in one added after its lines; an ``init_by_lua_file`` is left alone."""
    out = lua_first(http_config, "init_by_lua", EMPTY_SHARED_DICTS)
    if out is not None:
        return out
    if re.search(r"^[^#\n]*\binit_by_lua_file\s", http_config, re.MULTILINE):
        return http_config
    return http_config.rstrip("\n") + f"\ninit_by_lua_block {{ {EMPTY_SHARED_DICTS}}}\n"


def request_line(text: str) -> tuple[str, str, str, bytes]:
    """A ``--- request`` value: comment lines, then ``METHOD [URI [VERSION]]``, then the body (all
    after the first line, as written)."""
    text = re.sub(r"\A(?:\s*#[^\n]+\s+|\s+)+", "", text)
    if not text.strip():
        raise BlockError("the request section is empty")
    first, _, body = text.partition("\n")
    parts = first.split()
    method = parts[0]
    uri = parts[1] if len(parts) > 1 else "/"
    version = parts[2] if len(parts) > 2 else "HTTP/1.1"
    return method, uri, version, _bytes(body)


def header_lines(value: Any) -> list[str]:
    """``--- more_headers`` as Test::Nginx writes them: one ``Name: value`` per non-empty line (comment
    lines left out, the colon's spaces normalised, a line without a colon a header without value)."""
    if value is None:
        return []
    out = []
    for line in re.split(r"\n+", str(value)):
        if line and not re.match(r"\s*#", line):
            name, rest = (re.split(r":\s*", line, maxsplit=1) + [""])[:2]
            out.append(f"{name}: {rest}")
    return out


def _has(headers: list[str], name: str) -> bool:
    return any(h.lower().startswith(name.lower() + ":") for h in headers)


def build_http(text: str, more_headers: list[str], keepalive: bool = False) -> bytes:
    """The request's bytes as Test::Nginx builds them: ``Host`` and ``Connection`` unless the block's
    headers give them, then its headers, then a ``Content-Length`` it counts itself (on the body without
    its outer whitespace) unless the headers give one or say ``Transfer-Encoding: chunked`` (the body
    is then sent as written)."""
    method, uri, version, body = request_line(text)
    head = [f"{method} {uri} {version}"]
    if not _has(more_headers, "Host"):
        head.append("Host: localhost")
    if not _has(more_headers, "Connection"):
        head.append(f"Connection: {'keep-alive' if keepalive else 'close'}")
    head += more_headers
    chunked = any(h.partition(": ")[0].lower() == "transfer-encoding" and h.partition(": ")[2] == "chunked"
                  for h in more_headers)
    if body and not chunked and not any(h.startswith("Content-Length:") for h in more_headers):
        body = body.strip()
        head.append(f"Content-Length: {len(body)}")
    return _bytes("\r\n".join(head) + "\r\n\r\n") + body


def _packets(value: Any, more_headers: list[str]) -> tuple[Packet, ...]:
    """A request given as packets: the first holds the request line (headers are added to it)."""
    items = _list(value)
    out: list[Packet] = []
    for index, item in enumerate(items):
        data, delay = (item.get("value", ""), float(item.get("delay_before", 0))) if isinstance(item, dict) else (item, 0.0)
        out.append(Packet(_bytes(str(data)), delay))
    if not out:
        raise BlockError("an empty request")
    # Test::Nginx joins the packets into one request, then cuts it where the packets ended
    whole = b"".join(p.data for p in out).decode("latin-1")
    built = build_http(whole, more_headers)
    head_extra = len(built) - len(b"".join(p.data for p in out))
    cuts, pos = [], 0
    for i, p in enumerate(out):
        end = pos + len(p.data) + (head_extra if i == 0 else 0)
        cuts.append(Packet(built[pos:end], p.delay_before))
        pos = end
    if pos < len(built):
        cuts[-1] = Packet(cuts[-1].data + built[pos:], cuts[-1].delay_before)
    return tuple(cuts)


def _middle_delay(packets: tuple[Packet, ...], delay: float) -> tuple[Packet, ...]:
    """``--- raw_request_middle_delay``: the gap before each later packet that names none of its own."""
    if not delay:
        return packets
    return packets[:1] + tuple(p if p.delay_before else Packet(p.data, delay) for p in packets[1:])


def requests_of(raw: RawBlock) -> tuple[WireRequest, ...]:
    s = raw.sections
    more = s.get("more_headers")
    delay = seconds(s["raw_request_middle_delay"]) if raw.has("raw_request_middle_delay") else 0.0
    if raw.has("raw_request"):
        packets = tuple(Packet(_bytes(str(p.get("value", "") if isinstance(p, dict) else p)),
                               float(p.get("delay_before", 0)) if isinstance(p, dict) else 0.0)
                        for p in _list(s["raw_request"]))
        return (WireRequest(_middle_delay(packets, delay), 1, "raw_request"),)
    if raw.has("pipelined_requests"):
        items = [str(x) for x in _list(s["pipelined_requests"])]
        mores = more if isinstance(more, list) else [more] * len(items)
        data = b"".join(build_http(t, header_lines(mores[i] if i < len(mores) else None), keepalive=i < len(items) - 1)
                        for i, t in enumerate(items))
        return (WireRequest((Packet(data),), len(items), "pipelined_requests"),)
    value = s.get("request", s.get("request_eval"))
    if value is None:
        return ()
    out = []
    items = value if isinstance(value, list) else [value]
    mores = more if isinstance(more, list) else [more] * len(items)
    for index, item in enumerate(items):
        headers = header_lines(mores[index] if index < len(mores) else None)
        if isinstance(item, list):
            out.append(WireRequest(_middle_delay(_packets(item, headers), delay), 1, "request"))
        else:
            out.append(WireRequest((Packet(build_http(str(item), headers)),), 1, str(item).strip().split("\n")[0]))
    return tuple(out)


def _shutdown(value: Any) -> int:
    """``--- shutdown`` (empty: 1, the write side), the ``how`` of shutdown(2)."""
    text = str(value).strip()
    return int(text) if text else 1


def _nth(value: Any, index: int) -> Any:
    if isinstance(value, list):
        return value[index] if index < len(value) else None
    return value


def _status(value: Any) -> Optional[Union[int, Regex]]:
    if value is None or value == "":
        return None
    if isinstance(value, Regex):
        return value
    return int(str(value).strip())


def _headers(value: Any) -> tuple[tuple[str, Optional[str]], ...]:
    out: list[tuple[str, Optional[str]]] = []
    for line in (str(value).split("\n") if value is not None else []):
        line = line.strip()
        if not line:
            continue
        if line.startswith("!"):
            out.append((line[1:].strip(), None))
        elif ":" in line:
            name, _, v = line.partition(":")
            out.append((name.strip(), v.strip()))
    return tuple(out)


def expects_of(raw: RawBlock, answers: int) -> tuple[Expect, ...]:
    s = raw.sections
    out = []
    for i in range(answers):
        status: Any = _nth(s.get("error_code"), i) if "error_code" in s else 200
        if "error_code_like" in s:
            like = _nth(s["error_code_like"], i)
            status = like if isinstance(like, Regex) else Regex(str(like))
        body = _nth(s.get("response_body", s.get("response_body_eval")), i)
        like = _nth(s.get("response_body_like"), i)
        if isinstance(body, Regex):  # a qr// as response_body: Test::Nginx matches it
            body, like = None, body
        unlike = _nth(s.get("response_body_unlike"), i)
        like, unlike = _pattern_text(like), _pattern_text(unlike)
        heads_like = tuple((n, Regex(v or "")) for n, v in _headers(_nth(s.get("response_headers_like"), i)))
        out.append(Expect(
            status=_status(status), no_response="error_code" in s and str(status).strip() == "",
            body=_bytes(str(body)) if body is not None else None,
            body_like=like if like is None or isinstance(like, Regex) else str(like),
            body_unlike=unlike if unlike is None or isinstance(unlike, Regex) else str(unlike),
            headers=_headers(_nth(s.get("response_headers"), i)),
            headers_like=heads_like,
            raw_headers_like=_nth(s.get("raw_response_headers_like"), i),
            raw_headers_unlike=_nth(s.get("raw_response_headers_unlike"), i),
        ))
    return tuple(out)


def log_expects(raw: RawBlock, repeats: int) -> tuple[LogExpect, ...]:
    s = raw.sections
    grep = s.get("grep_error_log")
    out = []
    for i in range(max(1, repeats)):
        grep_out = _nth(s.get("grep_error_log_out"), i)
        out.append(LogExpect(present=patterns(s.get("error_log")), absent=patterns(s.get("no_error_log")),
                             grep=grep if grep is None or isinstance(grep, Regex) else str(grep),
                             grep_out=grep_out if grep_out is None or isinstance(grep_out, Regex) else str(grep_out)))
    return tuple(out)


def user_files(value: Any) -> dict[str, bytes]:
    """``>>> name [mtime]`` sections of user_files (or an eval array of [name, content, mtime]). As
    under Test::Nginx, a ``>>> name`` anywhere in a line starts a file."""
    files: dict[str, bytes] = {}
    if value is None:
        return files
    if isinstance(value, list):
        for item in value:
            if isinstance(item, list) and item:
                files[str(item[0])] = _bytes(str(item[1] if len(item) > 1 else ""))
        return files
    current: Optional[str] = None
    for line in str(value).splitlines(keepends=True):
        head = re.search(r">>> (\S+)", line)
        if head:
            current = head.group(1)
            files[current] = b""
        elif current is not None:
            files[current] += _bytes(line)
    return files


def seconds(value: Any) -> float:
    text = str(value).strip()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000.0
    return float(text.rstrip("s"))


PERL_CODE = re.compile(r"CODE\(0x[0-9a-f]+\)")  # a Perl sub as the shim hands it over (perl calls it: PerlCalls)


def _target(raw: RawBlock, section: str, unsupported: list[str]) -> Optional[tuple[int, str]]:
    """(port, "") or, for a stream socket in the block's html directory (which the companion shares),
    (0, path); None (with the reason) for other unix sockets."""
    target = str(raw.sections[section]).strip()
    if target.isdigit():
        return int(target), ""
    if target.endswith(".sock"):
        html = BLOCK_ENV["TEST_NGINX_HTML_DIR"] + "/"
        if section == "tcp_listen" and target.startswith(html) and "/.." not in target:
            return 0, target
        where = "a datagram unix socket" if section == "udp_listen" else f"a unix socket outside {html}"
        unsupported.append(f"{section} ({where}: the companion shares the network and the html directory only)")
        return None
    raise BlockError(f"{section}: {target!r} is neither a port nor a *.sock path")


def _replies(raw: RawBlock, section: str, unsupported: list[str]) -> tuple[Optional[tuple[bytes, ...]], bool]:
    """The reply's pieces, and whether it is a Perl sub instead (called with the query at run time, as
    Test::Nginx does: the pieces are then empty)."""
    if not raw.has(section):
        return None, False
    value = raw.sections[section]
    if isinstance(value, str) and PERL_CODE.fullmatch(value):
        return (), True
    if any(isinstance(v, str) and PERL_CODE.fullmatch(v) for v in _list(value)):
        unsupported.append(f"{section} (an array holding a Perl sub: Test::Nginx sends it as text)")
        return None, False
    return tuple(_bytes(str(v)) for v in _list(value)), False


def _query(raw: RawBlock, section: str) -> Any:
    value = raw.sections.get(section)
    return value if value is None or isinstance(value, Regex) else _bytes(str(value))


def peers_of(raw: RawBlock) -> tuple[Peers, tuple[str, ...]]:
    """The block's mock peers, and what of them the harness cannot run (reasons for the skip)."""
    s = raw.sections
    unsupported: list[str] = []
    tcp = udp = None
    if raw.has("tcp_listen"):
        target, (reply, tcp_ask) = _target(raw, "tcp_listen", unsupported), _replies(raw, "tcp_reply", unsupported)
        if reply is None and not raw.has("tcp_shutdown") and not unsupported:
            raise BlockError("tcp_listen without tcp_reply or tcp_shutdown (Test::Nginx bails out)")
        if target is not None and not unsupported:
            tcp = TcpPeer(port=target[0], path=target[1], reply=reply, query=_query(raw, "tcp_query"),
                          query_len=int(str(s["tcp_query_len"]).strip()) if raw.has("tcp_query_len") else None,
                          reply_delay=seconds(s["tcp_reply_delay"]) if raw.has("tcp_reply_delay") else 0.0,
                          shutdown=int(str(s["tcp_shutdown"]).strip()) if raw.has("tcp_shutdown") else None,
                          shutdown_delay=seconds(s["tcp_shutdown_delay"]) if raw.has("tcp_shutdown_delay") else 0.0,
                          no_close="tcp_no_close" in s,
                          auto_timeout=(seconds(s["tcp_query_auto_timeout"]) if str(s["tcp_query_auto_timeout"]).strip()
                                        else 0.1) if "tcp_query_auto_timeout" in s else None, ask=tcp_ask)
    if raw.has("udp_listen"):
        cannot = len(unsupported)
        target, (reply, udp_ask) = _target(raw, "udp_listen", unsupported), _replies(raw, "udp_reply", unsupported)
        if reply is None and len(unsupported) == cannot:
            raise BlockError("udp_listen without udp_reply (Test::Nginx bails out)")
        if target is not None and len(unsupported) == cannot:
            udp = UdpPeer(port=target[0], reply=reply or (), query=_query(raw, "udp_query"),
                          reply_delay=seconds(s["udp_reply_delay"]) if raw.has("udp_reply_delay") else 0.0, ask=udp_ask)
    return Peers(tcp, udp), tuple(unsupported)


def fixture_of(raw: RawBlock, no_root_location: bool, env_to_nginx: Sequence[str], label: str,
               port: int = DEFAULT_SERVER_PORT, log_level: str = "debug") -> Fixture:
    """The block's config, put where Test::Nginx puts it: ``config`` in the default server (after
    ``client_max_body_size 30M``, before the root location), ``http_config`` in http{} (where the
    default type is text/plain), ``main_config`` in the main context."""
    s = raw.sections
    http = _text(s.get("http_config") or "")
    main_config = _text(s.get("main_config") or "")
    # Test::Nginx's nginx.conf: main_config on line 16 (after one line per env_to_nginx name),
    # http_config 9 lines and the server's config 14 lines after the text before them; the harness
    # writes them on the same lines, so "nginx.conf:LINE" in Lua chunk names and errors agree.
    first = 16 + len(env_to_nginx)
    lines = {"main.conf": first, "http.conf": first + 9 + main_config.count("\n"),
             "server.conf": first + 23 + main_config.count("\n") + http.count("\n")}
    # Test::Nginx itself writes no init_by_lua(_block) section: suites splice it into http_config
    # in a preprocessor. The harness writes it only where http_config has no init_by_lua yet.
    has_init = re.search(r"^[^#\n]*\binit_by_lua(?:_block|_file)?\b", http, re.MULTILINE) is not None
    if raw.has("init_by_lua_block") and not has_init:
        http += f"\ninit_by_lua_block {{\n{_text(s['init_by_lua_block'])}\n}}\n"
    elif raw.has("init_by_lua") and not has_init:
        http += f"\ninit_by_lua '{_text(s['init_by_lua'])}';\n"
    if "lua_shared_dict" in http:
        http = empty_dicts_in_init(http)
    if not re.search(r"\bdefault_type\s", http):
        http = "default_type text/plain; " + http  # on the first line: the block's lines keep their numbers
    config = "client_max_body_size 30M; " + _text(s.get("config") or "")
    if not no_root_location:
        config += "\nlocation / {\n    root html;\n    index index.html index.htm;\n}\n"
    main = "".join(f"env {name}; " for name in env_to_nginx) + main_config
    if raw.has("error_log_file"):  # Test::Nginx's error log goes there (syslog:server=...): the harness
        # keeps its own error.log beside it (nginx logs to both), which the block's checks read
        main = f"error_log {_text(s['error_log_file']).strip()} {log_level}; " + main
    # as Test::Nginx writes them: in the html directory, or at an absolute path ("/tmp/lua.conf")
    files = {(f"{ABSOLUTE_FILES}{name}" if name.startswith("/") else f"html/{name}"): content
             for name, content in user_files(s.get("user_files")).items()}
    # as under Test::Nginx, html/ always holds a small index page (GET / answers 200)
    files.setdefault("html/index.html", b"<html><head><title>It works!</title></head><body>It works!</body></html>")
    snippets = {"main.conf": main, "http.conf": http, "server.conf": config}
    # quiet: as under Test::Nginx, no Lua but the block's own runs in its workers (no heartbeat, no
    # control requests), so its JIT traces (jit.v), thread cache and connection numbers are its own
    # a user file names a service's TEST_NGINX_* variable: the harness's placeholder, filled when written
    filled = tuple(rel for rel, content in files.items() if b"${" in content)
    return Fixture(name=label, snippets={k: v for k, v in snippets.items() if v}, files=files, embed=True,
                   lines=lines, quiet=True, filled=filled, port=port)


# What a block's expectations say about the client's address under Test::Nginx (its client is at
# 127.0.0.1: "client: 127.0.0.1" in error.log lines, $remote_addr in a body), and the config names
# through which nginx shows it.
EXPECTATIONS = ("response_body", "response_body_like", "response_body_unlike", "response_headers",
                "response_headers_like", "raw_response_headers_like", "error_log", "grep_error_log_out")
CLIENT_ADDRESS_NAMES = re.compile(r"remote_addr|proxy_add_x_forwarded_for|raw_client_addr|realip_|set_real_ip_from")
LOOPBACK = "127.0.0.1"


def _texts(value: Any) -> list[str]:
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, Regex):
        return [value.pattern.replace("\\.", ".")]
    return [] if value is None else [str(value)]


def observes_client_address(sections: Mapping[str, Any]) -> bool:
    """Whether a block may see where its client connects from: an expectation names 127.0.0.1 (an
    error.log line's ``client: 127.0.0.1``, an upstream's address too: sending from 127.0.0.1 costs only
    time), or the config reads the client's address (``$remote_addr``, ``$proxy_add_x_forwarded_for``,
    ``ngx.var.remote_addr``, the realip module)."""
    if any(LOOPBACK in text for name in EXPECTATIONS for text in _texts(sections.get(name))):
        return True
    config = "".join(str(sections.get(name) or "") for name in ("config", "http_config", "server_config"))
    return CLIENT_ADDRESS_NAMES.search(config) is not None


def build_block(raw: RawBlock, *, repeats: int, log_level: str, workers: int, no_root_location: bool,
                env_to_nginx: Sequence[str], label: str, environment: Optional[Mapping[str, str]] = None,
                use_hup: bool = False, server_port: int = DEFAULT_SERVER_PORT, accum_log: bool = False) -> TBlock:
    """The block to run; a section the harness cannot read becomes the block's ``error``.
    ``environment``: the ``TEST_NGINX_*`` variables the file set, which nginx sees under Test::Nginx
    (a block's ``env NAME;`` and ``env_to_nginx()`` pass them on to its Lua)."""
    unsupported = tuple(sorted(name for name in raw.sections if name in UNSUPPORTED))
    try:
        # a Test::Nginx::Socket::Lua::Stream block becomes the HTTP block that module makes of it
        raw = RawBlock(raw.name, raw.number, stream.rendered(raw.sections, stream.stream_port(environment or {}, server_port)),
                       raw.error)
        s = raw.sections
        peers, cannot = peers_of(raw)
        unsupported += cannot
        fixture = fixture_of(raw, no_root_location, env_to_nginx, label, server_port,
                             str(s.get("log_level") or log_level).strip())
        requests = requests_of(raw)
        answers = sum(r.answers for r in requests)
        return TBlock(
            name=raw.name, number=raw.number, fixture=fixture, requests=requests,
            expects=expects_of(raw, answers), log=log_expects(raw, repeats),
            log_level=str(s.get("log_level") or log_level).strip(), workers=workers,
            timeout=seconds(s["timeout"]) if raw.has("timeout") else DEFAULT_TIMEOUT,
            abort="abort" in s, shutdown=_shutdown(s["shutdown"]) if "shutdown" in s else None,
            http09="http09" in s, wait=seconds(s["wait"]) if raw.has("wait") else 0.0,
            ignore_response="ignore_response" in s, must_die="must_die" in s, no_check_leak="no_check_leak" in s,
            skip_eval=perl_true(s.get("skip_eval_result")),
            skip_nginx=str(s["skip_nginx"]) if raw.has("skip_nginx") else None,
            skip_nginx2=str(s["skip_nginx2"]) if raw.has("skip_nginx2") else None,
            unsupported=unsupported, needs_modules=stream.modules_needed(s), error=raw.error, uses=frozenset(s),
            env=passed_env(_text(s.get("main_config") or ""), env_to_nginx, environment or {}), reloaded=use_hup,
            accum_log=accum_log, local_client=observes_client_address(s),
            peers=peers, test_env=dict(environment or {}))
    except (BlockError, ValueError, TypeError) as exc:
        return TBlock(name=raw.name, number=raw.number, fixture=Fixture(name=label, snippets={}), requests=(),
                      expects=(), log=(), error=f"cannot read the block: {exc}", uses=frozenset(raw.sections),
                      unsupported=unsupported)


def passed_env(main_config: str, env_to_nginx: Sequence[str], environment: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environment`` that ``env NAME;`` lines (or ``env_to_nginx``) hand to the
    workers; a service's (``TEST_NGINX_MEMCACHED_PORT``) as its placeholder, which the adapter fills
    with the service's value (os.getenv in the block's Lua then reads what Test::Nginx would give)."""
    names = [*re.findall(r"(?:^|[;{}\s])env\s+([A-Za-z_]\w*)\s*;", main_config, re.MULTILINE), *env_to_nginx]
    return {name: environment.get(name, BLOCK_ENV.get(name, "")) for name in names
            if name in environment or name in BLOCK_ENV}


def nginx_version_matches(condition: str, version: int) -> bool:
    """``skip_nginx`` condition (``"2: < 1.19.3"``, the count is ignored) against ngx.config.nginx_version
    (1022001 for 1.22.1); skip_nginx2 joins two with ``and`` / ``or``."""
    body = condition.split(":", 1)[1] if ":" in condition else condition

    def one(expr: str) -> bool:
        m = re.match(r"\s*(<=|>=|<|>|==|!=)\s*(\d+)\.(\d+)\.(\d+)\s*$", expr)
        if not m:
            raise BlockError(f"cannot read the nginx version condition {expr!r}")
        want = int(m.group(2)) * 1000000 + int(m.group(3)) * 1000 + int(m.group(4))
        return {"<": version < want, "<=": version <= want, ">": version > want, ">=": version >= want,
                "==": version == want, "!=": version != want}[m.group(1)]
    for joiner in (" and ", " or "):
        if joiner in body:
            left, right = body.split(joiner, 1)
            return (one(left) and one(right)) if joiner == " and " else (one(left) or one(right))
    return one(body)
