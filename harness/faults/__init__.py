"""Faults: each a context manager that undoes itself, even when the test fails.

``RedisFault`` acts on the Redis container and server (stop, pause, kill, refuse, slow, drop
connections); ``WorkerFault`` on the nginx processes (kill or stop a worker, make a zombie, signal
the master). Network faults between containers (a TCP fault proxy with Toxiproxy's toxics) and
DNS answers are not built yet.
"""
from harness.faults.process import WorkerFault
from harness.faults.redis import RedisFault

__all__ = ["RedisFault", "WorkerFault"]
