"""Limits, networks, labels and the images' identity, read back from the engine and from nginx."""
import pytest

from harness.nginx_conf import CONTROL_PORT, HTTP_PORT
from harness.session import LABEL_PID, LABEL_SESSION

pytestmark = pytest.mark.integration


def test_limits_reach_the_container_and_nginx(openresty):
    nginx = openresty("hello", workers=2, memory="256m", cpus=1, nofile=4096)
    host = nginx.get_wrapped_container().attrs["HostConfig"]
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["NanoCpus"] == 1_000_000_000
    assert {"Name": "nofile", "Soft": 4096, "Hard": 4096} in host["Ulimits"]
    assert host["Privileged"] is False
    assert len(nginx.workers().workers) == 2
    assert "getrlimit(RLIMIT_NOFILE): 4096:4096" in nginx.error_log(0)


def test_a_read_only_mount_and_a_workdir_serve_lua_from_the_host(openresty, tmp_path):
    suite = tmp_path / "suite"
    (suite / "lib").mkdir(parents=True)
    (suite / "lib" / "greet.lua").write_text('local _M = {}\nfunction _M.hi() return "hi from the host" end\nreturn _M\n')
    for path in (tmp_path, suite, suite / "lib", suite / "lib" / "greet.lua"):
        path.chmod(0o755)  # the workers run as nobody
    nginx = openresty.inline("location = /t { content_by_lua_block { ngx.say(require('greet').hi()) } }",
                             http_config='lua_package_path "./lib/?.lua;;";', mounts=[(str(suite), "/srv/suite")],
                             workdir="/srv/suite", reuse=False)
    with nginx.client() as client:
        assert client.get("/t").text == "hi from the host\n"  # ./lib resolved from the workdir
    assert nginx.sh("touch /srv/suite/x")[0] != 0  # read-only


def test_containers_are_labelled_and_on_an_internal_network(openresty, redis, harness_stage):
    nginx = openresty("hello")
    for container in (nginx, redis):
        attrs = container.get_wrapped_container().attrs
        labels = attrs["Config"]["Labels"]
        assert labels[LABEL_SESSION] == harness_stage.session.id
        assert LABEL_PID in labels
        networks = attrs["NetworkSettings"]["Networks"]
        assert harness_stage.reach.internal.name in networks
        bindings = [b for bs in (attrs["NetworkSettings"]["Ports"] or {}).values() if bs for b in bs]
        assert all(b["HostIp"] == "127.0.0.1" for b in bindings)
    net = harness_stage.engine.client.networks.get(harness_stage.reach.internal.name)
    assert net.attrs["Internal"] is True
    assert net.attrs["Labels"][LABEL_SESSION] == harness_stage.session.id


def test_nginx_reports_the_versions_the_header_shows(openresty, pytestconfig):
    from harness.pytest_plugin import RUNTIME

    nginx = openresty("hello")
    facts = pytestconfig.stash[RUNTIME].facts["openresty"]
    assert facts.id == nginx.resolved.id
    assert nginx.identity["jit"] and nginx.identity["jit"] in facts.luajit
    assert nginx.nginx_version() == facts.version
    assert nginx.identity["ngx_lua"] >= 10023


def test_published_reach_binds_loopback_only(harness_stage, fixtures_dir):
    """The Docker Desktop path, forced: both services through ports published on 127.0.0.1."""
    from dataclasses import replace

    from harness.stage import Stage

    settings = replace(harness_stage.settings, reach="published")
    with Stage(harness_stage.engine, settings, session=harness_stage.session, resolver=harness_stage.resolver,
               rootdir=fixtures_dir.parent) as stage:
        redis = stage.redis()
        nginx = stage.openresty("redis-counter", services=["redis"])
        assert nginx.base_url.startswith("http://127.0.0.1:")
        assert redis.endpoint(6379)[0] == "127.0.0.1"
        with nginx.client() as client:
            assert client.get("/count").text.strip() == "1"
        ports = nginx.get_wrapped_container().attrs["NetworkSettings"]["Ports"]
        assert {b["HostIp"] for p in (f"{HTTP_PORT}/tcp", f"{CONTROL_PORT}/tcp") for b in ports[p]} == {"127.0.0.1"}
        assert stage.engine.client.networks.get(stage.reach.internal.name).attrs["Internal"] is True


def test_every_container_is_only_on_internal_networks(openresty, redis, dns, redis_proxy, harness_stage):
    """No container of a fault, a sidecar or a fixture has a network with a way out (direct reach).
    Checked through the engine, without sending a packet anywhere."""
    nginx = openresty("hello")
    client = harness_stage.engine.client
    for container in (nginx, redis, dns, redis_proxy):
        networks = container.get_wrapped_container().attrs["NetworkSettings"]["Networks"]
        assert networks and all(client.networks.get(name).attrs["Internal"] for name in networks), \
            f"{container.name} is on {sorted(networks)}"
