"""Container classes (testcontainers 4.x): OpenResty, its services and sidecars on the session's internal network."""
from harness.containers.base import HarnessContainer, Reach
from harness.containers.companion import CompanionContainer
from harness.containers.dns import DnsContainer
from harness.containers.fault_proxy import FaultProxyContainer, ProxyRoute
from harness.containers.memcached import MemcachedContainer
from harness.containers.openresty import OpenRestyContainer
from harness.containers.redis import RedisContainer

__all__ = ["CompanionContainer", "DnsContainer", "FaultProxyContainer", "HarnessContainer", "MemcachedContainer",
           "ProxyRoute", "OpenRestyContainer", "Reach", "RedisContainer"]
