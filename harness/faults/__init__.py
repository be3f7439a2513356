"""Faults: each a context manager that undoes itself, even when the test fails.

``RedisFault`` acts on the Redis container and server (stop, pause, kill, refuse, slow, drop
connections); ``WorkerFault`` on the nginx processes (kill or stop a worker, make a zombie, signal
the master). Network faults between containers are the fault proxy's toxics
(:class:`harness.containers.FaultProxyContainer`: ``proxy.route("redis").latency(300)``, down,
bandwidth, blackhole, reset_peer, limit_data, slicer); DNS faults are the harness DNS server's
answers (:class:`harness.containers.DnsContainer`: nxdomain, servfail, timeout, a wrong address).
"""
from harness.faults.process import WorkerFault
from harness.faults.redis import RedisFault

__all__ = ["RedisFault", "WorkerFault"]
