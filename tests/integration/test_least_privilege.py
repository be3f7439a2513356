"""Least privilege, read back from the running containers: no privileged container, every capability
dropped but the few each kind needs, config and Lua on read-only mounts, internal networks with no
route out, published ports on 127.0.0.1 only."""
from dataclasses import replace

import pytest

from harness.session import LABEL_SESSION

pytestmark = pytest.mark.integration

# What each kind of container may keep (cap_drop ALL, then these): see the classes' docstrings.
EXPECTED = {
    "openresty": {"CHOWN", "SETUID", "SETGID", "KILL", "DAC_READ_SEARCH"},
    "redis": set(),
    "dns": set(),
    "faultproxy": set(),
    "companion": {"NET_BIND_SERVICE"},  # root of its container, for mock peers below port 1024
}
USERS = {"openresty": "", "redis": "redis", "dns": "65534:65534", "faultproxy": "65534:65534", "companion": ""}
# Linux capability numbers (include/uapi/linux/capability.h), for decoding /proc/PID/status.
CAP_NUMBERS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "KILL": 5, "SETGID": 6,
               "SETUID": 7, "NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "NET_RAW": 13, "SYS_ADMIN": 21}
OUTSIDE = "192.0.2.1"  # TEST-NET-1: would be outside this machine; with no route no packet leaves


def effective_caps(container, pid: str = "1") -> set[str]:
    code, out = container.sh(f"sed -n 's/^CapEff:[[:space:]]*//p' /proc/{pid}/status")
    assert code == 0, out
    bits = int(out.strip(), 16)
    unknown = bits & ~sum(1 << n for n in CAP_NUMBERS.values())
    assert unknown == 0, f"{container.name} has capabilities outside the known set: {bits:#x}"
    return {name for name, n in CAP_NUMBERS.items() if bits & (1 << n)}


def test_every_container_runs_with_only_the_capabilities_it_needs(openresty, redis, dns, redis_proxy,
                                                                   harness_stage):
    nginx = openresty("hello", workers=2)
    companion = harness_stage.companion(nginx)  # in nginx's network namespace: no network of its own
    assert companion.get_wrapped_container().attrs["HostConfig"]["NetworkMode"] == f"container:{nginx.get_container_id()}"
    assert companion.get_wrapped_container().attrs["HostConfig"]["PortBindings"] in ({}, None)
    for container in (nginx, redis, dns, redis_proxy, companion):
        attrs = container.get_wrapped_container().attrs
        host = attrs["HostConfig"]
        assert host["Privileged"] is False, container.name
        assert host["CapDrop"] == ["ALL"], container.name
        assert set(host["CapAdd"] or []) == EXPECTED[container.kind], container.name
        assert "no-new-privileges" in host["SecurityOpt"], container.name
        assert attrs["Config"]["User"] == USERS[container.kind], container.name
        # The kernel's view of PID 1 (nginx master, redis-server, python) agrees with the engine's.
        assert effective_caps(container) == EXPECTED[container.kind], container.name
    for worker in nginx.workers().workers:  # workers run as nobody and keep nothing
        assert effective_caps(nginx, str(worker.pid)) == set()
    # Nothing of this session, whatever test made it, is privileged or holds NET_ADMIN / SYS_ADMIN.
    client = harness_stage.engine.client
    session = client.containers.list(filters={"label": f"{LABEL_SESSION}={harness_stage.session.id}"})
    assert len(session) >= 4
    for c in session:
        assert c.attrs["HostConfig"]["Privileged"] is False, c.name
        assert not {"NET_ADMIN", "SYS_ADMIN", "ALL"} & set(c.attrs["HostConfig"]["CapAdd"] or []), c.name


def test_config_and_lua_are_read_only_even_to_root_and_a_reload_still_switches(openresty, harness_stage):
    nginx = openresty.inline(
        "location = /write { content_by_lua_block {"
        "  local f, err = io.open(ngx.unescape_uri(ngx.var.arg_path), 'a') ngx.say(f and 'written' or err) } }",
        lua={"mod.lua": "return 1\n"})
    mounts = {m["Destination"]: m for m in nginx.get_wrapped_container().attrs["Mounts"]}
    for part in ("/harness/gen", "/harness/lualib", "/harness/bin"):
        assert mounts[part]["RW"] is False and mounts[part]["Type"] == "bind", mounts
    lua_file = f"/harness/gen/{nginx.generation}/fixture/lua/mod.lua"
    with nginx.client() as client:  # a worker (nobody) cannot change its own code: owner and mount refuse
        assert client.get("/write", params={"path": lua_file}).text == f"{lua_file}: Permission denied\n"
    for path in (lua_file, f"/harness/gen/{nginx.generation}/nginx.conf", "/harness/lualib/control.lua"):
        code, out = nginx.sh(f"echo x >> {path}")  # nor can root in the container
        assert code != 0 and "Read-only file system" in out, (path, out)
    assert nginx.sh("touch /harness/logs/probe")[0] == 0  # logs stay writable

    nginx.switch(harness_stage.fixture("hello"))  # HUP switching writes the new generation beside
    with nginx.client() as client:
        assert client.get("/").text.startswith("hello from worker")
    code, out = nginx.sh(f"touch /harness/gen/{nginx.generation}/fixture/server.conf")
    assert code != 0 and "Read-only file system" in out


def test_config_directory_on_the_host_goes_with_its_container(harness_stage):
    from pathlib import Path

    nginx = harness_stage.openresty("hello", reuse=False)
    source = Path(next(m["Source"] for m in nginx.get_wrapped_container().attrs["Mounts"]
                       if m["Destination"] == "/harness/gen")).parent
    assert source.is_dir() and source == nginx.config_dir
    harness_stage.release(nginx)
    harness_stage.pool.drain()  # removal runs in the background
    assert not source.exists()


def test_containers_have_no_route_out(openresty, dns, harness_stage):
    """A connection to an outside address fails at once with "Network unreachable": the internal
    network gives no default route, so no packet is ever sent."""
    nginx = openresty("hello")
    if nginx.route_out:
        pytest.skip("the default route can only be cut as root on a local engine: no connect is tried")
    for container in (nginx, dns):
        assert container.route_out is False
        code, routes = container.sh("cat /proc/net/route")
        assert code == 0 and routes.splitlines()[0].startswith("Iface")
        destinations = {line.split()[1] for line in routes.splitlines()[1:] if line.strip()}
        assert "00000000" not in destinations, f"{container.name} has a default route:\n{routes}"
    code, out = dns.sh(
        "python3 -c \"import socket, time; s = socket.socket(); s.settimeout(2); t = time.monotonic()\n"
        "try:\n    s.connect(('" + OUTSIDE + "', 80)); print('connected')\n"
        "except OSError as e:\n    print(e.errno, e.strerror, round(time.monotonic() - t, 3))\"")
    errno_, _, rest = out.strip().partition(" ")
    assert errno_ == "101" and "Network is unreachable" in rest, out  # ENETUNREACH, not a timeout
    assert float(rest.split()[-1]) < 0.5, out
    code, out = nginx.sh(f"bash -c 'exec 3<>/dev/tcp/{OUTSIDE}/80' 2>&1")
    assert code != 0 and "Network is unreachable" in out, out


def test_published_ports_bind_loopback_only_for_every_kind(harness_stage, fixtures_dir):
    """HARNESS_REACH=published (Docker Desktop, remote engines): every port of every kind is on
    127.0.0.1, and the containers keep the same privileges."""
    from harness.stage import Stage

    settings = replace(harness_stage.settings, reach="published")
    with Stage(harness_stage.engine, settings, session=harness_stage.session, resolver=harness_stage.resolver,
               rootdir=fixtures_dir.parent) as stage:
        redis = stage.redis()
        containers = [redis, stage.dns(), stage.openresty("hello"),
                      stage.fault_proxy({"redis": (6379, redis.ip, 6379)})]
        for container in containers:
            attrs = container.get_wrapped_container().attrs
            bindings = [b for bs in attrs["NetworkSettings"]["Ports"].values() if bs for b in bs]
            assert bindings and {b["HostIp"] for b in bindings} == {"127.0.0.1"}, (container.name, bindings)
            assert set(attrs["HostConfig"]["CapAdd"] or []) == EXPECTED[container.kind]
        assert stage.engine.client.networks.get(stage.reach.internal.name).attrs["Internal"] is True
        containers[-1].stop()
