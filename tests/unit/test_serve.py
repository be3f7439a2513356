"""harness serve without Docker: the protocol, the fingerprint, which runs are handed over, the kept
runtime, and a real server process (its harness command replaced by a stand-in) answering, streaming,
cancelling a run whose caller went away, refusing a stale caller, and stopping when idle."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from harness.serve import client, protocol
from harness.serve.client import hand_over, pytest_servable, servable
from harness.serve.protocol import connect, fingerprint, receive, send
from harness.settings import Settings
from harness.waiting import wait_for
from harness.warm import WarmRuntimes

STAND_IN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from harness.serve.server import WarmServer

    def call(argv):
        if argv[1:2] == ["sleep"]:
            time.sleep(60)
        if argv[1:2] == ["crash"]:
            raise RuntimeError("the stand-in crashed")
        print("ran", *argv)
        print("to stderr", file=sys.stderr)
        return 3

    WarmServer.warm_up = lambda self: None  # no stage: the harness command is this stand-in
    WarmServer.call = staticmethod(call)
    sys.exit(WarmServer(Path(sys.argv[1]), float(sys.argv[2]), ["serve", "--idle", sys.argv[2]]).serve())
""")


def test_messages_are_json_lines_both_ways():
    stream = io.BytesIO()
    send(stream, {"out": "a\nb"})
    send(stream, {"exit": 1})
    stream.seek(0)
    assert receive(stream) == {"out": "a\nb"} and receive(stream) == {"exit": 1} and receive(stream) is None


def test_the_fingerprint_changes_with_a_file_of_the_install(tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "PACKAGE", tmp_path)
    module = tmp_path / "mod.py"
    module.write_text("x = 1\n")
    (tmp_path / "__pycache__").mkdir()
    first = fingerprint()
    (tmp_path / "__pycache__" / "mod.pyc").write_bytes(b"compiled")  # not the install's source
    assert fingerprint() == first
    info = module.stat()
    os.utime(module, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    assert fingerprint() != first


def test_the_socket_directory_must_be_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    protocol.socket_path(create=False)
    assert not (tmp_path / "openresty-harness").exists()  # looking for a server makes nothing
    assert protocol.socket_path().parent == tmp_path / "openresty-harness"
    assert protocol.socket_path().name == f"serve-{protocol.install_id()}.sock"
    (tmp_path / "openresty-harness").chmod(0o777)
    with pytest.raises(PermissionError, match="HARNESS_SERVE_SOCKET"):
        protocol.socket_path()
    assert protocol.socket_path(str(tmp_path / "mine.sock")) == tmp_path / "mine.sock"


def test_which_runs_are_handed_over(tmp_path):
    assert servable(["t", "t/a.t", "-n", "2"])
    assert not servable(["t", "--watch", "t/"]) and not servable(["t", "--help"]) and not servable(["run", "x.yaml"])
    suite = tmp_path / "suite"
    (suite / "t").mkdir(parents=True)
    (suite / "t" / "a.t").write_text("")
    assert pytest_servable([str(suite / "t" / "a.t"), "-q"]) and pytest_servable([str(suite / "t")])
    assert pytest_servable([f"{suite / 't' / 'a.t'}::TEST 1: x"])
    assert not pytest_servable(["-q"]) and not pytest_servable([str(tmp_path / "missing.t")])
    (suite / "t" / "conftest.py").write_text("")  # Python in the tree: the caller's pytest reads it afresh
    assert not pytest_servable([str(suite / "t")])


def test_no_server_means_the_caller_runs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_SERVE_SOCKET", str(tmp_path / "none.sock"))
    monkeypatch.setenv("HARNESS_SERVE", "auto")
    assert hand_over(["t", "x.t"]) is None
    monkeypatch.setenv("HARNESS_SERVE", "off")
    assert client.server_socket() is None


def test_a_warm_process_keeps_one_runtime_per_settings(tmp_path):
    warm = WarmRuntimes()
    settings = Settings.from_sources(environ={})
    first = warm.runtime(settings, tmp_path)
    assert warm.runtime(settings, tmp_path) is not first  # not enabled: a runtime per run
    warm.enable()
    kept = warm.runtime(settings, tmp_path)
    warm.finish(kept)
    assert warm.runtime(settings, tmp_path) is kept and warm.runs == 2 and "run 2 on the warm stage" in kept.served
    other = warm.runtime(Settings.from_sources(environ={"HARNESS_TWIN": "bookworm"}), tmp_path)
    assert other is not kept and "twin: 'trixie' -> 'bookworm'" in warm.replaced
    warm.finish(other, reusable=False)  # an interrupted run: its stage is not trusted again
    assert warm.kept is None and warm.runtime(Settings.from_sources(environ={"HARNESS_TWIN": "bookworm"}),
                                              tmp_path) is not other
    coverage = warm.runtime(Settings.from_sources(environ={"HARNESS_COVERAGE": "lua"}), tmp_path)
    assert coverage is not warm.kept and "never kept" in warm.last


@pytest.fixture
def stand_in_server(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A server process whose harness command is a stand-in (prints, exits 3; ``t sleep`` sleeps)."""
    script = tmp_path / "server.py"
    script.write_text(STAND_IN)
    sock = tmp_path / "s.sock"
    server = subprocess.Popen([sys.executable, str(script), str(sock), "60"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: status(sock), timeout=30, what="the stand-in server to answer")
    yield sock, server
    if server.poll() is None:
        server.terminate()
        server.wait(timeout=30)


def status(sock: Path) -> Optional[dict[str, Any]]:
    return client.ask(sock, "status", timeout=5)


def test_a_run_handed_over_prints_its_output_and_returns_its_code(stand_in_server, monkeypatch, capsys):
    sock, _ = stand_in_server
    monkeypatch.setenv("HARNESS_SERVE_SOCKET", str(sock))
    monkeypatch.setenv("HARNESS_SERVE", "auto")
    assert hand_over(["t", "a.t"]) == 3
    out, err = capsys.readouterr()
    assert "ran t a.t" in out and "to stderr" in err and f"pid {status(sock)['pid']} ran this" in out
    assert status(sock)["runs"] == 1


def test_a_run_that_crashes_is_the_callers_error_and_the_server_goes_on(stand_in_server, monkeypatch, capsys):
    sock, server = stand_in_server
    monkeypatch.setenv("HARNESS_SERVE_SOCKET", str(sock))
    monkeypatch.setenv("HARNESS_SERVE", "auto")
    assert hand_over(["t", "crash"]) == 2
    assert "RuntimeError: the stand-in crashed" in capsys.readouterr().err
    assert hand_over(["t", "a.t"]) == 3 and server.poll() is None


def test_a_caller_that_goes_away_cancels_its_run(stand_in_server):
    sock, server = stand_in_server
    conn = connect(sock)
    assert conn is not None
    stream = conn.makefile("rwb")
    send(stream, {"op": "run", "argv": ["t", "sleep"], "cwd": "/", "env": {}, "fingerprint": fingerprint()})
    wait_for(lambda: status(sock)["busy"], timeout=30, what="the run to start")
    stream.close()
    conn.close()
    wait_for(lambda: not status(sock)["busy"], timeout=30, what="the run to be cancelled")  # not 60 s
    assert server.poll() is None  # the server goes on
    answer = client.ask(sock, "stop")
    assert answer is not None and answer["stopping"] == server.pid
    assert server.wait(timeout=30) == 0
    assert "run 1 (exit 130)" in (server.stdout.read() if server.stdout else "")
    assert not sock.exists()


def test_a_second_caller_waits_for_the_run_under_way(stand_in_server):
    sock, _ = stand_in_server
    first = connect(sock)
    assert first is not None
    first_stream = first.makefile("rwb")
    send(first_stream, {"op": "run", "argv": ["t", "sleep"], "cwd": "/", "env": {}, "fingerprint": fingerprint()})
    wait_for(lambda: status(sock)["busy"], timeout=30, what="the first run to start")
    second = connect(sock, timeout=30)  # every answer, and the end of the connection, within 30 s
    assert second is not None
    with second:
        stream = second.makefile("rwb")
        send(stream, {"op": "run", "argv": ["t", "b.t"], "cwd": "/", "env": {}, "fingerprint": fingerprint()})
        assert receive(stream) == {"queued": status(sock)["pid"]}
        assert status(sock)["queued"] == 1
        first_stream.close()
        first.close()  # the first caller goes away: its run ends, the second's starts
        messages = iter(lambda: receive(stream), None)
        assert [m for m in messages if "exit" in m][0]["exit"] == 3


def test_a_stale_server_says_so_and_stops(stand_in_server):
    sock, server = stand_in_server
    conn = connect(sock)
    assert conn is not None
    with conn:
        stream = conn.makefile("rwb")
        send(stream, {"op": "run", "argv": ["t", "a.t"], "cwd": "/", "env": {}, "fingerprint": "not this install"})
        answer = receive(stream)
    assert answer is not None and "not as it is now" in answer["stale"] and answer["restart"] == ["serve", "--idle", "60"]
    assert server.wait(timeout=30) == 0 and not sock.exists()


def test_an_idle_server_stops_by_itself(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(STAND_IN)
    sock = tmp_path / "s.sock"
    server = subprocess.run([sys.executable, str(script), str(sock), "0.5"], capture_output=True, text=True, timeout=60)
    assert server.returncode == 0 and "no run for 0 s" in server.stdout and not sock.exists()


def test_a_second_server_on_the_same_socket_is_refused(stand_in_server, tmp_path):
    sock, _ = stand_in_server
    second = subprocess.run([sys.executable, str(tmp_path / "server.py"), str(sock), "60"], capture_output=True,
                            text=True, timeout=60)
    assert second.returncode != 0 and "already listens" in second.stderr


def test_status_and_stop_without_a_server_say_so(tmp_path):
    harness = [sys.executable, "-m", "harness", "serve", "--socket", str(tmp_path / "none.sock")]
    for action in ("--status", "--stop"):
        done = subprocess.run([*harness, action], capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "no server listens" in done.stdout


def test_socket_pairs_close_cleanly():  # the protocol's framing survives a message split across reads
    left, right = socket.socketpair()
    with left, right:
        writer, reader = left.makefile("wb"), right.makefile("rb")
        send(writer, {"out": "x" * 100_000})
        assert receive(reader) == {"out": "x" * 100_000}
