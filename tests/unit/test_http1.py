"""The lean HTTP/1.1 connections behind RawHttpUser (one epoll per process, httptools parsing),
against canned responses from a server thread on a local socket."""
import socket
import threading
import time

import pytest

from harness.load.http1 import Connection, ProtocolError

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def serve(responses, close_after=True):
    """A one-connection server on 127.0.0.1 that answers each request with the next canned bytes
    (None: answer nothing and hold the connection for a while)."""
    server = socket.create_server(("127.0.0.1", 0))

    def run():
        conn, _ = server.accept()
        with conn:
            for response in responses:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                if response is None:
                    time.sleep(2)
                    continue
                try:
                    for i in range(0, len(response), 7):  # in small pieces: the parser must reassemble
                        conn.sendall(response[i:i + 7])
                        time.sleep(0.0005)
                except OSError:  # the client gave up on garbage
                    break
        server.close()

    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()


def test_content_length_chunked_no_body_and_close():
    host, port = serve([
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nConnection: close\r\n\r\nno!",
    ])
    conn = Connection(host, port, timeout=5)
    assert conn.exchange(REQUEST) == (200, 5, True)
    assert conn.exchange(REQUEST) == (200, 11, True)
    assert conn.exchange(REQUEST) == (204, 0, True)
    assert conn.exchange(REQUEST) == (404, 3, False)
    assert conn.closed  # "Connection: close" is honoured: the next request needs a new connection
    with pytest.raises(ProtocolError, match="closed"):
        conn.exchange(REQUEST)


def test_a_body_without_length_ends_with_the_connection():
    host, port = serve([b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"])
    conn = Connection(host, port, timeout=5)
    assert conn.exchange(REQUEST) == (200, len(b"until the end"), False)
    assert conn.closed


def test_a_closed_connection_and_garbage_are_protocol_errors():
    host, port = serve([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"])
    conn = Connection(host, port, timeout=5)
    with pytest.raises(ProtocolError, match="closed"):
        conn.exchange(REQUEST)
    host, port = serve([b"SSH-2.0-OpenSSH\r\n\r\n"])
    with pytest.raises(ProtocolError, match="not an HTTP"):
        Connection(host, port, timeout=5).exchange(REQUEST)


def test_no_answer_times_out_at_the_deadline():
    host, port = serve([None])
    conn = Connection(host, port, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(socket.timeout, match="no complete response within 0.3s"):
        conn.exchange(REQUEST)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert conn.closed


def test_a_request_larger_than_the_send_buffer_is_sent_whole():
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8_000_000 + b"\r\n\r\n"
    server = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def run():
        conn, _ = server.accept()
        with conn:
            time.sleep(0.2)  # not reading yet: the client's send buffer fills up
            while not received.endswith(b"\r\n\r\n"):
                received.extend(conn.recv(1 << 20))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        server.close()

    threading.Thread(target=run, daemon=True).start()
    conn = Connection(*server.getsockname(), timeout=10)
    assert conn.exchange(big) == (200, 2, True)
    assert bytes(received) == big
