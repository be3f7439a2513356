"""The raw wire client: answers parsed from bytes as Test::Nginx parses them, and the socket side
(packets, per-I/O timeouts, reading until close) against a small local server."""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Iterator

import pytest

from harness.wire import Packet, exchange, heads_of, parse_answer, parse_answers

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"


def test_status_headers_in_order_with_duplicates_and_raw_headers():
    data = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Folded: one\r\n two\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\nok"
    answer, left = parse_answer(data)
    assert (answer.status, answer.reason, answer.body, left) == (200, "OK", b"ok", b"")
    assert answer.headers[0] == ("Set-Cookie", "a=1") and answer.headers[2] == ("set-cookie", "b=2")
    assert answer.header("SET-COOKIE") == "a=1, b=2"  # HTTP::Headers joins them
    assert answer.header("X-Folded") == "one\n two"
    assert answer.raw_headers == data[:data.index(b"\r\n\r\n") + 2].decode()
    assert answer.complete


def test_chunked_body_is_decoded_and_what_follows_is_left():
    answer, left = parse_answer(CHUNKED + b"HTTP/1.1 204 No Content\r\n\r\n")
    assert answer.body == b"hello world" and answer.complete and not answer.error
    assert left.startswith(b"HTTP/1.1 204")


def test_chunked_with_an_extension_and_a_trailer():
    answer, left = parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                b"3;x=y\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n")
    assert (answer.body, answer.error, left) == (b"abc", "", b"")


def test_two_transfer_encoding_headers_give_the_body_as_sent():
    # HTTP::Headers reads them as "chunked, chunked", which Test::Nginx does not decode
    doubled = CHUNKED.replace(b"chunked\r\n", b"chunked\r\nTransfer-Encoding: chunked\r\n", 1)
    answer, _ = parse_answer(doubled)
    assert answer.status == 200 and answer.header("Transfer-Encoding") == "chunked, chunked"
    assert answer.body == b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" and not answer.error


def test_truncated_chunked_body_is_an_error_once_the_connection_closed():
    cut = CHUNKED[:CHUNKED.index(b"rld")]
    answer, _ = parse_answer(cut)
    assert answer.body == b"hello wo" and "not enough octets" in answer.error and not answer.complete
    answer, _ = parse_answer(CHUNKED[:-5])
    assert answer.body == b"hello world" and answer.error == "no last chunk found"
    assert parse_answer(cut, closed=False)[0].error == ""  # more may come: not yet an error


def test_content_length_cuts_and_a_short_body_is_kept_incomplete():
    answer, left = parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef")
    assert (answer.body, left, answer.complete) == (b"abc", b"def", True)
    short, _ = parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert (short.body, short.complete, short.error) == (b"abc", False, "")


def test_no_framing_reads_to_the_close():
    data = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of it\r\n"
    assert parse_answer(data)[0].body == b"all of it\r\n"
    assert not parse_answer(data, closed=False)[0].complete


def test_101_the_rest_of_the_stream_is_the_body():
    frames = b"\x81\x03foo\x88\x02\x03\xe8"
    data = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" + frames)
    answer, left = parse_answer(data)
    assert (answer.status, answer.body, left) == (101, frames, b"")
    assert answer.header("Upgrade") == "websocket"


def test_100_continue_is_the_status_and_the_final_answer_its_body():
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    answer, _ = parse_answer(data)
    assert answer.status == 100 and answer.body.startswith(b"HTTP/1.1 200 OK")


def test_head_204_304_have_no_body_and_pipelined_answers_stay_whole():
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    answers = parse_answers(head + second, 2, heads=[True, False])
    assert [(a.status, a.body) for a in answers] == [(200, b""), (200, b"x")]
    for code in (204, 304):
        first, left = parse_answer(f"HTTP/1.1 {code} X\r\n\r\n".encode() + second)
        assert first.body == b"" and left == second


def test_pipelined_answers_and_missing_ones():
    one = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n1\n"
    two = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n2\n\r\n0\r\n\r\n"
    answers = parse_answers(one + two, 3)
    assert [(a.status, a.body) for a in answers] == [(200, b"1\n"), (404, b"2\n"), (None, b"")]


def test_lenient_status_lines():
    assert parse_answer(b"HTTP/1.1 abc OK\r\n\r\n")[0].status is None
    assert parse_answer(b"garbage")[0].status is None
    assert parse_answer(b"HTTP/1.1 200\r\n\r\n")[0].status == 200  # no reason phrase
    assert parse_answer(b"HTTP/1.1 200 OK\nX: y\n\nbody")[0].header("X") == "y"  # bare LFs


def test_head_requests_are_found_in_the_bytes():
    data = b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    assert heads_of([Packet(data[:10]), Packet(data[10:])]) == [True, False]


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[socket.socket, bytes], None]], tuple[str, int]]]:
    """A one-connection TCP server on 127.0.0.1 running ``handler(conn, first_bytes)``."""
    threads: list[threading.Thread] = []
    socks: list[socket.socket] = []

    def start(handler: Callable[[socket.socket, bytes], None]) -> tuple[str, int]:
        listener = socket.create_server(("127.0.0.1", 0))
        socks.append(listener)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                handler(conn, conn.recv(65536))
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return listener.getsockname()[:2]
    yield start
    for s in socks:
        s.close()
    for t in threads:
        t.join(5)


def test_packets_with_delays_arrive_as_written_and_the_read_waits_for_the_close(server):
    got: list[bytes] = []

    def handler(conn: socket.socket, first: bytes) -> None:
        got.append(first)
        got.append(conn.recv(65536))  # the second packet, after its delay
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(0.3)  # nginx's log phase before it closes: the client waits for the close
    host, port = server(handler)
    started = time.perf_counter()
    answers = exchange(host, port, [Packet(b"GET / HTTP/1.1\r\n"), Packet(b"Host: x\r\n\r\n", 0.2)], 3.0)
    assert got == [b"GET / HTTP/1.1\r\n", b"Host: x\r\n\r\n"]
    assert answers[0].status == 200 and answers[0].body == b"ok" and not answers[0].timed_out
    assert time.perf_counter() - started >= 0.5


def test_the_timeout_counts_per_io_event_and_what_came_is_kept(server):
    def handler(conn: socket.socket, first: bytes) -> None:
        for piece in (b"HTTP/1.1 200 OK\r\n", b"Content-Length: 9\r\n\r\n", b"par"):
            conn.sendall(piece)
            time.sleep(0.15)  # each gap under the timeout, all of them over it
        time.sleep(0.6)
    host, port = server(handler)
    answer = exchange(host, port, [Packet(b"GET / HTTP/1.1\r\n\r\n")], 0.3)[0]
    assert answer.timed_out and answer.status == 200 and answer.body == b"par" and not answer.complete
    assert answer.elapsed_ms >= 550  # twice the timeout: the last byte came at 0.3 s


def test_until_complete_stops_reading_at_the_last_answer_of_a_pipeline(server):
    def handler(conn: socket.socket, first: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" * 2)
        time.sleep(2)  # a keep-alive connection nginx leaves open
    host, port = server(handler)
    started = time.perf_counter()
    answers = exchange(host, port, [Packet(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")], 3.0,
                       answers=2, until_close=False)
    assert [a.body for a in answers] == [b"a", b"a"] and not answers[-1].timed_out
    assert time.perf_counter() - started < 1.5


def test_connection_refused_is_an_answer_with_an_error():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    answer = exchange("127.0.0.1", port, [Packet(b"GET / HTTP/1.1\r\n\r\n")], 1.0)[0]
    assert answer.status is None and answer.error.startswith("connect failed")


def test_an_http09_answer_is_its_bytes_read_as_a_200(server):
    host, port = server(lambda conn, first: conn.sendall(b"bare body\n"))
    answer = exchange(host, port, [Packet(b"GET /\r\n")], 2.0, http09=True)[0]
    assert (answer.status, answer.body, answer.raw_headers) == (200, b"bare body\n", "")
