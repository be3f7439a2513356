"""Load and probes: locust in its own process (never imported by pytest), httpx bursts, CPU cost.

Only ``harness.load.recorder`` and the locustfiles import locust; they run in the locust process.
"""
from harness.load.cpu import CpuMeter
from harness.load.probe import BurstResult, aburst, burst
from harness.load.runner import LoadResult, LoadSpec, run_load, run_load_on

__all__ = ["BurstResult", "CpuMeter", "LoadResult", "LoadSpec", "aburst", "burst", "run_load", "run_load_on"]
