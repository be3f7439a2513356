"""The shipped fixtures share code instead of copying it: the Redis topology fixtures' ``/set`` and
``/get`` endpoint is one module, ``nginx-fixtures/_lua/kv_endpoint.lua``, linked into each fixture's
``lua/`` (a fixture stays a self-contained directory: loaded by name, by path, or from the wheel)."""
from pathlib import Path

from harness.nginx_conf import Fixture
from harness.resources import fixtures_dir

FIXTURES = Path(__file__).resolve().parents[2] / "nginx-fixtures"
SHARED = FIXTURES / "_lua" / "kv_endpoint.lua"
USERS = ("redis-sentinel", "redis-sentinel-cached-master", "redis-cluster", "redis-cluster-ignores-moved")


def test_the_topology_fixtures_serve_set_and_get_through_the_shared_module():
    for name in USERS:
        assert 'require("kv_endpoint").handle(' in (FIXTURES / name / "server.conf").read_text(), name
        link = FIXTURES / name / "lua" / "kv_endpoint.lua"
        assert link.is_symlink() and link.resolve() == SHARED.resolve(), name
        assert Fixture.load(name, [fixtures_dir()]).files["lua/kv_endpoint.lua"] == SHARED.read_bytes()


def test_no_fixture_writes_the_endpoint_again():
    """The endpoint reads ``ngx.var.arg_key`` and answers "nil" for a missing key: only the shared module does."""
    writers = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*.lua")
                     if not p.is_symlink() and 'ngx.say(res == ngx.null and "nil" or res)' in p.read_text())
    assert writers == ["_lua/kv_endpoint.lua"]
