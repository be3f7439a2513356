"""The warm server: one process that keeps a stage (network, services, idle OpenResty containers,
the imported harness and pytest) and runs the ``harness t`` invocations handed to it, one at a time,
in its own main thread, exactly as the caller's process would have (``harness.cli.main`` with the
caller's arguments, environment and directory; its output streamed back, its reports written where
the caller's would be). The stage is kept by :data:`harness.warm.WARM` between runs with the same
settings.

It stops, removing everything its runs made, on ``harness serve --stop``, Ctrl-C or SIGTERM, after
``HARNESS_SERVE_IDLE`` seconds without a run, and when a caller's install differs from the one it
runs (stale: see :func:`harness.serve.protocol.fingerprint`; the caller starts a new one). A killed
server leaves containers labelled with its pid, which the next run's sweep removes. A caller that
goes away (Ctrl-C) cancels its run: the run is interrupted as a Ctrl-C would, and its stage is not
kept.
"""
from __future__ import annotations

import gc
import io
import os
import queue
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Optional, Sequence

from harness.errors import HarnessError
from harness.serve.client import READY_FD
from harness.serve.protocol import PACKAGE, ByteStream, connect, fingerprint, receive, send
from harness.warm import WARM

SERVED = frozenset({"t"})  # the harness commands a server runs (and pytest runs of .t files: "program": "pytest")
FIRST_MESSAGE_S = 5.0  # a connection must say what it wants this fast


def interrupt_main_thread() -> None:
    """A SIGINT to the main thread, where runs run (a blocking wait there returns at once)."""
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


class Channel(io.TextIOBase):
    """A text stream whose writes go to the caller as ``{"out"|"err": text}`` messages; after the
    caller has gone, writes are dropped (the run is being cancelled)."""

    def __init__(self, stream: ByteStream, kind: str, tty: bool, lock: threading.Lock) -> None:
        super().__init__()
        self.stream, self.kind, self.tty, self.lock = stream, kind, tty, lock
        self.broken = False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        if text and not self.broken:
            with self.lock:
                try:
                    send(self.stream, {self.kind: text})
                except (OSError, ValueError):
                    self.broken = True
        return len(text)


@dataclass
class Request:
    conn: socket.socket
    stream: ByteStream
    message: dict[str, Any]


class WarmServer:
    """Listens on ``sock``; runs requests until stopped or ``idle`` seconds pass without one."""

    def __init__(self, sock: Path, idle: float, argv: Sequence[str] = (), out: Any = None) -> None:
        self.sock = sock
        self.idle = idle
        self.argv = list(argv)  # how it was started: a stale server's caller starts its successor so
        self.out = out or sys.stdout
        self.fingerprint = fingerprint()
        self.requests: "queue.Queue[Optional[Request]]" = queue.Queue()
        self.running: Optional[Request] = None
        self.runs = 0
        self.started = time.time()
        self.stopping = False
        self.cancelling = False  # a SIGINT sent by the server itself: the caller went away
        self.in_call = False  # a run's harness command is under way (a cancel interrupts only that)
        self.listener: Optional[socket.socket] = None
        self.inode = 0

    def say(self, line: str) -> None:
        print(f"harness serve: {line}", file=self.out, flush=True)

    @staticmethod
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    # ---- life ---------------------------------------------------------------------------------
    def listen(self) -> None:
        """Bind the socket; an answering server there is an error, a dead one's socket is replaced."""
        self.sock.parent.mkdir(parents=True, exist_ok=True)
        other = connect(self.sock, timeout=2.0)
        if other is not None:
            other.close()
            raise HarnessError(f"a server already listens at {self.sock}: `harness serve --status` shows it, "
                               "`harness serve --stop` stops it")
        if self.sock.exists() or self.sock.is_symlink():
            self.sock.unlink()  # a killed server's
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o077)
        try:
            listener.bind(str(self.sock))
        finally:
            os.umask(old_mask)
        listener.listen(16)
        self.listener, self.inode = listener, self.sock.stat().st_ino

    def unlisten(self) -> None:
        """Stop taking connections and remove the socket (if it is still this server's)."""
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
        try:
            if self.sock.stat().st_ino == self.inode:
                self.sock.unlink()
        except FileNotFoundError:
            pass

    def warm_up(self) -> None:
        """Import what runs need and open a stage with this process's settings, so that the first
        run with the same settings finds it (imports ~1 s; the engine, the network, the images' facts)."""
        import harness.cli  # noqa: F401 - imported now, not in the first run
        import harness.pytest_plugin  # noqa: F401
        import harness.tnginx.items  # noqa: F401
        import harness.tnginx.cli  # noqa: F401
        from harness.settings import Settings

        WARM.enable()
        runtime = WARM.keep(Settings.from_sources(), Path.cwd())
        if runtime is None:
            return  # coverage or a matrix in this environment: nothing is kept
        try:
            runtime.stage().reach
            runtime.probe_images()
        except HarnessError as exc:
            self.say(f"no stage yet ({exc.message}); each run says what is wrong")
            WARM.close()

    def serve(self) -> int:
        """Listen, warm up, then run requests until stopped; everything made is removed at the end."""
        self.listen()
        previous = {sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.warm_up()
            gc.freeze()  # what warm-up made lives as long as the server: no collection walks it again
            threading.Thread(target=self.accept, name="harness-serve-accept", daemon=True).start()
            self.say(f"pid {os.getpid()} listening at {self.sock} (stops after {self.idle:.0f} s without a run; "
                     "`harness serve --stop` stops it)")
            self.tell_ready()
            self.loop()
        except KeyboardInterrupt:
            pass
        finally:
            self.unlisten()
            self.say("stopping: removing the containers and networks of its runs")
            try:
                WARM.close()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        self.say(f"stopped after {self.plural(self.runs, 'run')}")
        return 0

    @staticmethod
    def tell_ready() -> None:
        """Tell the ``harness serve --detach`` that started this server that it listens (a pipe's end)."""
        fd = os.environ.pop(READY_FD, "")
        if fd.isdigit():
            try:
                os.write(int(fd), b"ready\n")
                os.close(int(fd))
            except OSError:
                pass  # it stopped waiting

    def on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.cancelling:
            self.cancelling = False  # the caller went away: only its run ends (if it has not ended already)
            if not self.in_call:
                return
        else:
            self.stopping = True
        raise KeyboardInterrupt(f"signal {signum}")

    def loop(self) -> None:
        while not self.stopping:
            deadline = (time.monotonic() if self.requests.empty() else 0) + self.idle
            try:
                request = self.requests.get(timeout=max(0.0, deadline - time.monotonic()) or None)
            except queue.Empty:
                self.say(f"no run for {self.idle:.0f} s")
                return
            if request is None:
                return
            self.execute(request)

    # ---- connections --------------------------------------------------------------------------
    def accept(self) -> None:
        while self.listener is not None:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.greet, args=(conn,), name="harness-serve-conn", daemon=True).start()

    def greet(self, conn: socket.socket) -> None:
        """Read what a connection wants; answer ``status`` and ``stop`` at once, queue a ``run``."""
        stream = conn.makefile("rwb")
        try:
            conn.settimeout(FIRST_MESSAGE_S)
            message = receive(stream)
            conn.settimeout(None)
            if message is None:
                pass  # it went away without a word
            elif message.get("op") == "status":
                send(stream, self.status())
            elif message.get("op") == "stop":
                send(stream, {"stopping": os.getpid()})
                self.stop()
            elif message.get("op") == "run" and message.get("fingerprint") != self.fingerprint:
                self.unlisten()  # before the answer: the successor the caller starts binds the same path
                send(stream, {"stale": f"harness serve (pid {os.getpid()}) runs the install as it was at "
                                       f"{time.strftime('%H:%M:%S', time.localtime(self.started))}, not as it is now",
                              "restart": self.argv})
                self.stop()
            elif message.get("op") == "run":
                if self.running is not None or not self.requests.empty():
                    send(stream, {"queued": os.getpid()})
                self.requests.put(Request(conn, stream, message))
                return  # the main thread answers and closes it
            else:
                send(stream, {"error": f"unknown op {message.get('op')!r}"})
        except (OSError, ValueError):
            pass
        try:
            stream.close()
        except (OSError, ValueError):
            pass
        conn.close()

    def status(self) -> dict[str, Any]:
        kept = WARM.kept
        return {"pid": os.getpid(), "started": self.started, "runs": self.runs, "busy": self.running is not None,
                "queued": self.requests.qsize(), "idle_stop_s": self.idle, "fingerprint": self.fingerprint,
                "fresh": fingerprint() == self.fingerprint, "argv": self.argv,
                "session": kept.session_id() if kept is not None else None}

    def stop(self) -> None:
        """Stop after (or, by a SIGINT, during) the run now under way."""
        self.stopping = True
        self.requests.put(None)
        if self.running is not None:
            interrupt_main_thread()

    # ---- one run ------------------------------------------------------------------------------
    def execute(self, request: Request) -> None:
        """Run one request in this (main) thread with the caller's arguments, environment and directory."""
        message = request.message
        argv = [str(a) for a in message.get("argv", [])]
        lock = threading.Lock()
        tty = bool(message.get("tty"))
        out, err = Channel(request.stream, "out", tty, lock), Channel(request.stream, "err", tty, lock)
        finished = threading.Event()
        self.running = request
        saved = (dict(os.environ), os.getcwd(), list(sys.path), sys.stdout, sys.stderr, set(sys.modules))
        threading.Thread(target=self.watch_caller, args=(request.conn, finished), daemon=True,
                         name="harness-serve-caller").start()
        code = 2
        try:
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in dict(message.get("env", {})).items()})
            os.environ["HARNESS_SERVE"] = "off"  # a harness this run starts (a matrix's runs) runs on its own
            os.chdir(str(message.get("cwd", "/")))
            # the caller's PYTHONPATH, as its interpreter would have put it first (a plugin of its own: -p NAME)
            sys.path[:0] = [d for d in os.environ.get("PYTHONPATH", "").split(os.pathsep) if d]
            tempfile.tempdir = None  # the caller's TMPDIR, as its own process would read it
            sys.stdout, sys.stderr = out, err
            pytest_run = message.get("program") == "pytest"
            if not pytest_run and (not argv or argv[0] not in SERVED):
                raise HarnessError(f"harness serve runs `harness {' | '.join(sorted(SERVED))}` and pytest only")
            self.runs += 1
            self.in_call = True
            try:
                code = self.call_pytest(argv) if pytest_run else self.call(argv)
            finally:
                self.in_call = False
        except HarnessError as exc:
            print(f"harness: {exc.message}", file=err)
        except KeyboardInterrupt:
            code = 130
            if self.stopping:
                print("harness serve: stopped during this run", file=err)
        except Exception:  # noqa: BLE001 - the run's crash is the caller's to see; the server goes on
            print(f"harness serve: the run crashed:\n{traceback.format_exc()}", file=err)
            WARM.close()  # what the crashed run left is not trusted
        finally:
            finished.set()
            sys.stdout, sys.stderr = saved[3], saved[4]
            os.environ.clear()
            os.environ.update(saved[0])
            tempfile.tempdir = None
            os.chdir(saved[1])
            sys.path[:] = saved[2]
            self.forget_modules(saved[5], Path(str(message.get("cwd", "/"))))
            self.running = None
            self.say(f"run {self.runs} (exit {code}): {WARM.last}" + (f"; a new stage because {WARM.replaced}"
                                                                      if WARM.replaced else ""))
            WARM.replaced = ""
            with lock:
                try:
                    send(request.stream, {"exit": code, "served": self.served()})
                    request.stream.close()
                    # a thread blocked in recv (watch_caller) keeps a closed socket open: shut down, the
                    # caller sees the end at once and the watcher wakes
                    request.conn.shutdown(socket.SHUT_RDWR)
                except (OSError, ValueError):
                    pass
            request.conn.close()

    def served(self) -> str:
        """What ran the request, for the caller's last line."""
        return f"pid {os.getpid()} ran this: {WARM.last or 'no stage needed'}"

    @staticmethod
    def call(argv: list[str]) -> int:
        from harness.cli import main

        try:
            return main(argv)
        except SystemExit as exc:  # argparse: --help, a bad flag
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)

    @staticmethod
    def call_pytest(argv: list[str]) -> int:
        import pytest

        return int(pytest.main(argv))

    def watch_caller(self, conn: socket.socket, finished: threading.Event) -> None:
        """Cancel the run when the caller goes away before it ends (its Ctrl-C)."""
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        if not finished.is_set() and not self.stopping:
            self.cancelling = True
            interrupt_main_thread()

    @staticmethod
    def forget_modules(before: set[str], cwd: Path) -> None:
        """Drop modules a run imported from the caller's tree (its conftest.py, say), so the next run
        reads them as they are then; the harness's and libraries' stay imported."""
        home, package = str(cwd.resolve()), str(PACKAGE)
        for name in [n for n in sys.modules if n not in before]:
            path = str(getattr(sys.modules.get(name), "__file__", None) or "")
            if path.startswith(home + os.sep) and not path.startswith(package + os.sep) and "site-packages" not in path:
                del sys.modules[name]
