"""The harness's DNS server (runs inside the tools container; dnslib is copied in beside it).

Answers only the names it was told about, one behaviour per name: an A record (``a``), NXDOMAIN,
SERVFAIL, no answer at all (``timeout``: the client's resolver times out). Unknown names get
NXDOMAIN; nothing is ever forwarded, so no query leaves the test network. Every query is recorded (name,
type, when, the answer given), so a test can wait until its client really asked again. A small
HTTP API changes the answers while the test runs and lists the queries:

    GET  /records                      -> {"name.": {"a": "10.0.0.2"}, ...}
    GET  /queries[?name=N&after=T]     -> [{"name": "n.", "type": "A", "time": epoch s, "answer": "10.0.0.2"}, ...]
    GET  /now                          -> {"time": epoch s} (this server's clock, which stamps queries)
    PUT  /records/<name>  {"a": ip} | {"rcode": "NXDOMAIN" | "SERVFAIL"} | {"timeout": true}  (name "*": any other name)
                                       -> {"name.": {...}, "time": when it took effect}
    DELETE /records/<name>             -> {"time": when it took effect}
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from typing import Any
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

RECORDS: dict[str, dict[str, Any]] = {}
LOCK = threading.Lock()
QUERIES: deque[dict[str, Any]] = deque(maxlen=100_000)  # the oldest go first; a test asks about its last seconds


def canonical(name: str) -> str:
    return name.rstrip(".").lower() + "."


class Resolver(BaseResolver):  # type: ignore[misc]  # dnslib has no type information
    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = canonical(str(request.q.qname))
        qtype = QTYPE.get(request.q.qtype, str(request.q.qtype))
        with LOCK:  # the record and the time together: a query stamped after a change saw the change
            # a record named "*" answers every name that has none of its own
            record = dict(RECORDS.get(name, RECORDS.get(canonical("*"), {"rcode": "NXDOMAIN"})))
            asked = time.time()
        if record.get("timeout"):
            answer = "timeout"
            reply = None  # dnslib sends nothing back: the resolver waits until it gives up
        elif "rcode" in record:
            answer = record["rcode"]
            reply.header.rcode = getattr(RCODE, record["rcode"])
        elif request.q.qtype in (QTYPE.A, QTYPE.ANY):
            answer = record["a"]
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(record["a"]), ttl=int(record.get("ttl", 1))))
        else:
            answer = "NOERROR"  # the name exists, without a record of that type (AAAA, say)
        with LOCK:
            QUERIES.append({"name": name, "type": qtype, "time": asked, "answer": answer})
        return reply


class Api(BaseHTTPRequestHandler):
    def _reply(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path, _, query = self.path.partition("?")
        if path.rstrip("/") == "/queries":
            args = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
            name = canonical(args["name"]) if args.get("name") else None
            after = float(args.get("after", 0))
            with LOCK:
                found = [q for q in QUERIES if q["time"] > after and (name is None or q["name"] == name)]
            return self._reply(200, found)
        if path.rstrip("/") == "/now":
            return self._reply(200, {"time": time.time()})
        with LOCK:
            self._reply(200, RECORDS)

    def do_PUT(self) -> None:  # noqa: N802
        name = canonical(self.path.rsplit("/", 1)[-1])
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not ({"a", "rcode", "timeout"} & set(body)) or body.get("rcode", "NXDOMAIN") not in ("NXDOMAIN", "SERVFAIL"):
            return self._reply(400, {"error": "give a, rcode (NXDOMAIN or SERVFAIL) or timeout"})
        with LOCK:
            RECORDS[name] = body
            changed = time.time()
        self._reply(200, {name: body, "time": changed})

    def do_DELETE(self) -> None:  # noqa: N802
        with LOCK:
            RECORDS.pop(canonical(self.path.rsplit("/", 1)[-1]), None)
            changed = time.time()
        self._reply(200, {"time": changed})

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--api", type=int, default=8053)
    args = parser.parse_args()
    logger = DNSLogger(log="-request,-reply,-truncated,-data,+error", prefix=False)
    for server in (DNSServer(Resolver(), port=args.port, address="0.0.0.0", logger=logger),
                   DNSServer(Resolver(), port=args.port, address="0.0.0.0", tcp=True, logger=logger)):
        server.start_thread()
    print(f"dns on :{args.port}, api on :{args.api}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", args.api), Api).serve_forever()


if __name__ == "__main__":
    main()
