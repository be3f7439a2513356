"""Images: per-kind profiles, the resolver (official or offline twin) and the offline builder."""
from harness.images.profiles import OpenRestyProfile, RedisProfile, openresty_profile
from harness.images.resolver import ImageResolver, ResolvedImage

__all__ = ["ImageResolver", "OpenRestyProfile", "RedisProfile", "ResolvedImage", "openresty_profile"]
