"""Redis as production runs it: replicas, Sentinel, Cluster, as groups of real containers on the
session network (see docs/redis-topologies.md)."""
from harness.topologies.cluster import RedisCluster
from harness.topologies.group import NodeState
from harness.topologies.replicated import ReplicatedRedis
from harness.topologies.sentinel import SentinelRedis

__all__ = ["NodeState", "RedisCluster", "ReplicatedRedis", "SentinelRedis"]
