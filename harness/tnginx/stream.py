"""Blocks of ``Test::Nginx::Socket::Lua::Stream``, rendered the way that module documents them: the
block's ``stream_config`` and up to three ``stream_server_config*`` servers (ports N+1, N+2, N+3, N
the server port, or ``TEST_NGINX_STREAM_PORT`` and the next two) in a ``stream {}`` block after the
block's main_config, and an HTTP location ``/t`` (request ``GET /t`` unless the block has one) whose
Lua connects to each server in turn, sends its ``stream_request*``, reads until the server closes and
prints what it got; ``stream_response(_like)`` are then the HTTP answer's body checks. Nothing here
runs anything."""
from __future__ import annotations

import re
from typing import Any, Mapping, Optional

STREAM_SERVERS = ("stream_server_config", "stream_server_config2", "stream_server_config3")
REQUESTS = ("stream_request", "stream_request2", "stream_request3")
# Test::Nginx spells these listen options "steam_"; both spellings are read
LISTEN_OPTIONS = (("steam_listen_option", "stream_listen_option"), ("steam_listen_option2", "stream_listen_option2"),
                  ("steam_listen_option3", "stream_listen_option3"))
SECTIONS = frozenset({"stream_config", *STREAM_SERVERS, *REQUESTS, "stream_response", "stream_response_like",
                      "log_stream_response", *(n for pair in LISTEN_OPTIONS for n in pair)})
MAIN_STREAM = re.compile(r"(?m)^[ \t]*stream[ \t\r\n]*\{")  # a stream {} block at the main level
LUA_DIRECTIVE = re.compile(r"\b\w+_by_lua\w*\b|\blua_\w+")
DEFAULT_TIMEOUT_MS = 3000  # Test::Nginx's client timeout, which an `abort` block's socket takes


class StreamError(ValueError):
    """Sections that contradict each other (a stream_response beside a response_body)."""


def is_stream(sections: Mapping[str, Any]) -> bool:
    """Whether the block has a stream server (then it runs in nginx's stream subsystem)."""
    return any(sections.get(name) is not None for name in ("stream_config", *STREAM_SERVERS))


def main_stream(main_config: str) -> str:
    """The text of the ``stream { ... }`` blocks a ``main_config`` writes itself ('' if none)."""
    found = []
    for start in MAIN_STREAM.finditer(main_config):
        depth, at = 1, start.end()
        while depth and at < len(main_config):
            depth += {"{": 1, "}": -1}.get(main_config[at], 0)
            at += 1
        found.append(main_config[start.end():at])
    return "\n".join(found)


def modules_needed(sections: Mapping[str, Any]) -> tuple[str, ...]:
    """The image modules (harness.images.components names) a block needs for nginx's stream
    subsystem: ``stream`` for a stream block or a ``stream {}`` its main_config writes, and
    ``ngx_stream_lua`` when that stream config uses a Lua directive."""
    own = main_stream(str(sections.get("main_config") or ""))
    if not is_stream(sections) and not own:
        return ()
    text = "\n".join([own, *(str(sections.get(n) or "") for n in ("stream_config", *STREAM_SERVERS))])
    return ("stream", "ngx_stream_lua") if LUA_DIRECTIVE.search(text) else ("stream",)


def lua_string(data: bytes) -> str:
    """``data`` as one Lua string literal on one line (every byte outside printable ASCII, the quote
    and the backslash as a decimal escape)."""
    out = []
    for byte in data:
        ch = chr(byte)
        out.append(ch if 32 <= byte < 127 and ch not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _bytes(value: Any) -> bytes:
    text = "".join(map(str, value)) if isinstance(value, list) else str(value)
    try:
        return text.encode("latin-1")  # perl handed the section's bytes over as latin-1 code points
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _seconds(value: Any) -> float:
    text = str(value).strip()
    return float(text[:-2]) / 1000.0 if text.endswith("ms") else float(text.rstrip("s"))


def _exchange(port: int, request: Optional[bytes], show: str, timeout_ms: Optional[int]) -> list[str]:
    """The Lua of one server's turn: connect, send, read until closed, print (``show``)."""
    lua = ["do",
           f'    local ok, err = sock:connect("127.0.0.1", {port})',
           '    if not ok then ngx.say("connect to stream server error: ", err) return end']
    if timeout_ms is not None:
        lua.append(f"    sock:settimeout({timeout_ms})")
    if request is not None:
        lua += [f"    local bytes, err = sock:send({lua_string(request)})",
                '    if not bytes then ngx.say("send stream request error: ", err) return end']
    lua += ['    local data, err = sock:receive("*a")',
            '    if not data then sock:close() ngx.say("receive stream response error: ", err) return end']
    if show == "log":
        lua += ['    print("stream response: ", data)', '    ngx.say("received ", #data, " bytes of response data.")']
    elif show == "print":
        lua.append("    ngx.print(data)")
    return [*lua, "end"]


def rendered(sections: Mapping[str, Any], port: int) -> dict[str, Any]:
    """The block's sections as an HTTP block: ``main_config`` with the ``stream {}`` block appended,
    ``config`` with the location ``/t`` appended, ``request`` (``GET /t`` unless given), and
    ``stream_response(_like)`` as ``response_body(_like)``. A block without stream sections only has
    the latter renamed. ``port``: the first stream server's."""
    out = dict(sections)
    for stream_name, http_name in (("stream_response", "response_body"), ("stream_response_like", "response_body_like")):
        if out.get(stream_name) is None:
            continue
        if out.get(http_name) is not None:
            raise StreamError(f"conflicting {stream_name} and {http_name} sections")
        out[http_name] = out[stream_name]
    if not is_stream(sections):
        return out
    servers = [0] + [i for i in (1, 2) if sections.get(STREAM_SERVERS[i]) is not None]
    main = [f"stream {{\n{sections.get('stream_config') or ''}"]
    for i in servers:
        option = next((str(sections[n]).rstrip("\n") for n in LISTEN_OPTIONS[i] if sections.get(n) is not None), "")
        main.append(f"    server {{\n        listen {port + i} {option};\n\n{sections.get(STREAM_SERVERS[i]) or ''}\n    }}")
    out["main_config"] = str(sections.get("main_config") or "") + "\n".join(main) + "\n}\n"
    shows = any(sections.get(n) is not None for n in
                ("response_body", "response_body_like", "stream_response", "stream_response_like"))
    timeout_ms = None
    if "abort" in sections:  # the block's timeout becomes the stream socket's, not the HTTP client's
        timeout = _seconds(sections["timeout"]) if sections.get("timeout") is not None else DEFAULT_TIMEOUT_MS / 1000
        timeout_ms = int(timeout * 1000)
        out.pop("abort", None)
        out.pop("timeout", None)
    lua = ["local sock = assert(ngx.socket.tcp())"]
    for i in servers:
        request = sections.get(REQUESTS[i])
        show = ("log" if i == 0 and sections.get("log_stream_response") is not None else "print") if shows else ""
        lua += _exchange(port + i, _bytes(request) if request is not None else None, show,
                         timeout_ms if i == 0 else None)
    body = "\n".join(f"            {line}" for line in lua)
    location = ("lua_socket_log_errors off;\n"
                f"location = /t {{\n    content_by_lua_block {{\n{body}\n    }}\n}}\n")
    out["config"] = str(sections.get("config") or "") + "\n" + location
    if sections.get("request") is None:
        out["request"] = "GET /t\n"
    return out


def stream_port(environment: Mapping[str, str], server_port: int) -> int:
    """The first stream server's port: ``TEST_NGINX_STREAM_PORT`` if the file set it, else the
    server port plus one."""
    value = environment.get("TEST_NGINX_STREAM_PORT", "")
    return int(value) if value.strip().isdigit() else server_port + 1
