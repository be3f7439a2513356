"""The lean HTTP/1.1 connection behind RawHttpUser, against canned responses on a local socket."""
import socket
import threading

import pytest

from harness.load.http1 import Connection, ProtocolError


def serve(responses):
    """A one-connection server on 127.0.0.1 that answers each request with the next canned bytes."""
    server = socket.create_server(("127.0.0.1", 0))

    def run():
        conn, _ = server.accept()
        with conn:
            for response in responses:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                for i in range(0, len(response), 7):  # in small pieces: the parser must reassemble
                    conn.sendall(response[i:i + 7])
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
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert conn.exchange(request) == (200, 5, True)
    assert conn.exchange(request) == (200, 11, True)
    assert conn.exchange(request) == (204, 0, True)
    assert conn.exchange(request) == (404, 3, False)
    assert not conn.buf  # nothing left over between responses
    conn.close()


def test_a_closed_connection_and_garbage_are_protocol_errors():
    host, port = serve([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"])
    conn = Connection(host, port, timeout=5)
    with pytest.raises(ProtocolError, match="closed"):
        conn.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    host, port = serve([b"SSH-2.0-OpenSSH\r\n\r\n"])
    with pytest.raises(ProtocolError, match="not an HTTP"):
        Connection(host, port, timeout=5).exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
