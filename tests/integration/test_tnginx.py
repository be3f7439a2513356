"""`harness t` end to end: a faulty .t file fails with exit 1 and says why, per block; the
healthy suite (tests/tnginx/t/sections.t) is collected by `make test` itself."""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent.parent / "tnginx"


def test_harness_t_reports_each_failed_block_and_exits_1(harness_stage, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "t", str(HERE / "faulty" / "broken.t"),
                           "--reports", str(tmp_path)], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "response_body 'actual', expected 'expected'" in out
    assert "no_error_log: '[error]' found in:" in out and "boom" in out
    assert "0 passed, 2 failed, 0 skipped" in out
    assert (tmp_path / "t.xml").is_file()


def harness_t(path: Path, reports: Path, *options: str, env: Optional[dict[str, str]] = None) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "t", str(path), "--reports", str(reports), *options],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    verdicts = json.loads((reports / "t.json").read_text())["blocks"] if (reports / "t.json").exists() else {}
    return proc.returncode, {k.split("::", 1)[1].split(":")[0]: v for k, v in verdicts.items()}, proc.stdout + proc.stderr


SERVICES = HERE / "faulty" / "services.t"


def test_services_blocks_pass_without_a_fault(harness_stage, tmp_path):
    code, verdicts, out = harness_t(SERVICES, tmp_path)
    assert code == 0 and verdicts == {f"TEST {n}": "passed" for n in (1, 2, 3, 4, 5)}, out


@pytest.mark.parametrize("fault, failing", [
    ("redis.refusing", {"TEST 1", "TEST 3", "TEST 4", "TEST 5"}),  # every block that talks to Redis
    ("proxy.latency:ms=100", {"TEST 1", "TEST 5"}),  # the two with a timeout under 100 ms (TEST 5: at 127.0.0.1)
    ("dns.servfail", {"TEST 2"}),
])
def test_a_run_wide_fault_fails_the_blocks_that_depend_on_it(harness_stage, tmp_path, fault, failing):
    code, verdicts, out = harness_t(SERVICES, tmp_path, "--harness-fault", fault)
    assert code == 1, out
    assert {name for name, v in verdicts.items() if v == "failed"} == failing, out


def test_lanes_give_the_same_verdicts_and_run_blocks_ahead(harness_stage, tmp_path):
    """The default lanes (`-n auto`) on the suite of every supported section give the verdicts of a
    run one block at a time, with blocks started while others ran; `-n 3` on the Redis blocks (each
    runs alone) starts none of them early."""
    suite = HERE / "t"
    code1, verdicts1, out1 = harness_t(suite, tmp_path / "one", "-n", "1")
    assert code1 == 0 and "lanes:" not in out1, out1
    code, verdicts, out = harness_t(suite, tmp_path / "auto")
    report = json.loads((tmp_path / "auto" / "t.json").read_text())
    assert code == 0 and verdicts == verdicts1, out
    assert report["lanes"].startswith("auto (") and "lanes: auto (" in out and report["ran_ahead"] > 0, out
    code, verdicts, out = harness_t(SERVICES, tmp_path / "three", "-n", "3")
    report = json.loads((tmp_path / "three" / "t.json").read_text())
    assert code == 0 and set(verdicts.values()) == {"passed"}, out
    assert report["lanes"] == "3" and "lanes: 3 (" in out
    assert report["ran_ahead"] == 0, out  # the Redis blocks: nothing starts beside or before them


def test_check_leak_fails_the_leaky_block_and_passes_its_twin(harness_stage, tmp_path):
    code, verdicts, out = harness_t(SERVICES, tmp_path, "--harness-check-leak")
    assert code == 1, out
    assert verdicts == {"TEST 1": "passed", "TEST 2": "passed", "TEST 3": "failed", "TEST 4": "passed",
                        "TEST 5": "passed"}, out
    assert "leak check: " in out and "LEAK" in out


PEERS = HERE / "t" / "peers.t"


def companions_of(pid: int) -> list[str]:
    """Containers a run by process ``pid`` left (any kind), by the session labels."""
    import docker

    client = docker.from_env()
    try:
        return [c.name for c in client.containers.list(all=True, filters={"label": f"harness.pid={pid}"})]
    finally:
        client.close()


def test_companion_serves_127_0_0_1_and_mock_peers_and_leaves_nothing(harness_stage, tmp_path):
    """tests/tnginx/t/peers.t: Redis at 127.0.0.1:$TEST_NGINX_REDIS_PORT, tcp_listen with
    tcp_query/tcp_reply, tcp_reply_delay, tcp_query_len with an array reply, tcp_no_close,
    tcp_shutdown, udp_listen with udp_query/udp_reply (array, delayed), tcp_listen on a unix socket in
    $TEST_NGINX_HTML_DIR, each block twice; and
    after the run no container of it (OpenResty, companion, Redis) is left."""
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "t", str(PEERS), "--reports", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=600)
    verdicts = json.loads((tmp_path / "t.json").read_text())["blocks"]
    assert proc.returncode == 0, out
    assert sorted(v for v in verdicts.values()) == ["passed"] * 9, out
    assert companions_of(proc.pid) == []


def test_a_mock_peer_that_was_sent_the_wrong_query_fails_its_block(harness_stage, tmp_path):
    code, verdicts, out = harness_t(HERE / "faulty" / "peers.t", tmp_path)
    assert code == 1 and verdicts == {f"TEST {n}": "failed" for n in (1, 2, 3)}, out
    assert "tcp_query: got 'hello\\n', expected 'howdy\\n'" in out
    assert "tcp_query_len: got 7 bytes, expected 6" in out
    assert "udp_query: got 'pong', expected 'ping'" in out
    assert "response_body" not in out, out  # the answers were right: only the peers' checks fail


def test_companion_goes_with_its_container_also_when_the_run_is_killed(harness_stage, tmp_path):
    """A run interrupted (SIGINT, as Ctrl-C) while a block's peer is armed leaves nothing."""
    import signal

    from harness.waiting import wait_for

    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "t", str(PEERS), "--reports", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: any("companion" in n for n in companions_of(proc.pid)), timeout=120,
                 what="the run's first companion")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert companions_of(proc.pid) == [], out


def run_on_a_stage_of_its_own(harness_stage, name: str, repeats: int = 1) -> list[tuple]:
    """Each block of tests/tnginx/generations/NAME on a new stage (its first block on a container
    started for it, later ones on that container, HUPed): (result, container, the error.log of the
    block's generation, the stage's observed identities at the end)."""
    from harness.stage import Stage
    from harness.tnginx.adapter import SuiteStage
    from harness.tnginx.block import build_block
    from harness.tnginx.load import load_tfile
    from harness.tnginx.runner import BlockRunner

    tfile = load_tfile(HERE / "generations" / name)
    out = []
    with Stage(harness_stage.engine, harness_stage.settings, session=harness_stage.session) as stage:
        used = []

        class Recording(SuiteStage):
            def release(self, nginx, reusable=True):
                used.append((nginx, nginx.generation_log_start))
                super().release(nginx, reusable)

        runner = BlockRunner(Recording(stage, tfile.root))
        for raw in tfile.blocks:
            block = build_block(raw, repeats=repeats, log_level="debug", workers=1, no_root_location=False,
                                env_to_nginx=[], label=f"{Path(name).stem}-{raw.number}",
                                use_hup=tfile.settings.get("use_hup") == "1")
            result = runner.run(block, repeats)
            nginx, start = used[-1]
            out.append((result, nginx, nginx.read_error_log(start, settle=2.0).text))
        observed = dict(stage.observed)  # what the image's workers reported, before the stage closes
    return [(*row, observed) for row in out]


def test_old_generations_lines_never_reach_the_next_block(harness_stage):
    (first, one, _, _), (second, two, raw, _) = run_on_a_stage_of_its_own(harness_stage, "bleed.t")
    assert first.verdict == "passed" and one is two  # one pooled container: the second block reloads it
    assert "old generation says goodbye, premature: true" in raw  # the old worker logged it in this window
    assert second.verdict == "passed", second.format()


def test_a_fresh_containers_first_request_finds_no_lua_thread_of_the_harness(harness_stage):
    """A quiet block's container is told ready without Lua (ngx_lua 002-content.t TEST 1 counts the
    worker's cached Lua threads); what only Lua reports (LuaJIT's version) is asked after its test."""
    (result, nginx, log, observed), = run_on_a_stage_of_its_own(harness_stage, "first-request.t", repeats=2)
    if "[debug]" not in log:
        pytest.skip(f"{nginx.resolved.ref}: nginx built without --with-debug logs no Lua thread cache")
    assert result.verdict == "passed", result.format()
    assert nginx.identity["jit"].startswith("LuaJIT") and nginx.identity["nginx"] >= 1019000
    assert observed[nginx.resolved.id]["ngx_lua"] >= 10000


def test_a_use_hup_block_sees_its_reload_and_its_twin_without_use_hup_does_not(harness_stage):
    (hup, _, _, _), = run_on_a_stage_of_its_own(harness_stage, "hup.t")
    assert hup.verdict == "passed", hup.format()
    (plain, _, _, _), = run_on_a_stage_of_its_own(harness_stage, "no-hup.t")
    assert plain.verdict == "failed" and any("SIGHUP" in f for f in plain.failures), plain.format()


def test_the_first_blocks_container_starts_while_pytest_collects(harness_stage):
    """The run-ahead, and the first block's container with it, exist once collection ends (perl
    reading the other files overlaps the start); --collect-only starts nothing."""
    from harness.tnginx.items import RUN_AHEAD

    class Probe:
        early = None

        def pytest_collection_finish(self, session):
            self.early = session.config.stash.get(RUN_AHEAD, None) is not None

    for extra, started in (([], True), (["--collect-only"], False)):
        probe = Probe()
        code = pytest.main([str(HERE / "t" / "sections.t"), "-q", "-p", "no:cacheprovider", *extra], plugins=[probe])
        assert code == 0 and probe.early is started


ENV = HERE / "env"  # .t files run with options of their own (not collected by `make test` directly)


def openresty_facts(stage):
    """What the session's OpenResty image has (modules, `nginx -V`), as the .t runner learns it."""
    from harness.images.facts import probe

    return probe(stage.engine, stage.resolver.resolve("openresty"), stage.session.labels)


def causes_of(reports: Path) -> dict[str, str]:
    causes = json.loads((reports / "t.json").read_text()).get("causes", {})
    return {k.split("::", 1)[1].split(":")[0]: v for k, v in causes.items()}


def test_a_stream_files_http_block_runs_and_its_stream_blocks_need_their_modules(harness_stage, tmp_path):
    """tests/tnginx/env/stream.t `use`s Test::Nginx::Socket::Lua::Stream: it loads, its http block
    passes, and each stream block runs where the image has what it needs (TEST 2 the stream module,
    TEST 3 ngx_stream_lua_module too) or is skipped with the cause naming the module. On the offline
    twins TEST 3 can only be seen skipped (neither packages ngx_stream_lua); both run TEST 2 and TEST 4
    (an http block whose main_config writes a stream {} of its own)."""
    facts = openresty_facts(harness_stage)
    has = {name for name, fact in facts.components.items() if fact.get("present")}
    code, verdicts, out = harness_t(ENV / "stream.t", tmp_path)
    assert code == 0 and verdicts["TEST 1"] == "passed", out
    causes = causes_of(tmp_path)
    for test, needs in (("TEST 2", ("stream",)), ("TEST 3", ("stream", "ngx_stream_lua")), ("TEST 4", ("stream",))):
        missing = [m for m in needs if m not in has]
        if not missing:
            assert verdicts[test] == "passed" and test not in causes, out
        else:
            want = "ngx_stream_lua" if "ngx_stream_lua" in missing else missing[0]
            assert verdicts[test] == "skipped" and causes[test] == f"module missing in image: {want}", out
    assert "blocks that did not run as under prove, by cause:" in out or not causes


def test_perl_asks_the_images_nginx(harness_stage, tmp_path):
    """tests/tnginx/env/nginx-binary.t: the preamble's `$NginxBinary -V`, `nginx -v` on the PATH and
    $NginxVersion name the version the container's nginx reports (the host's nginx, if any, is not
    asked: on the trixie twin it differs), and skip_eval sees the image's configure arguments."""
    facts = openresty_facts(harness_stage)
    code, verdicts, out = harness_t(ENV / "nginx-binary.t", tmp_path)
    assert code == 0, out
    assert [verdicts[f"TEST {n}"] for n in (1, 2, 3)] == ["passed"] * 3, out
    assert verdicts["TEST 4"] == ("skipped" if "--with-debug" in facts.version else "passed"), out
    assert verdicts["TEST 5"] == ("passed" if "--with-debug" in facts.version else "skipped"), out


def test_the_blocks_server_listens_on_test_nginxs_port(harness_stage, tmp_path):
    """tests/tnginx/env/server-port.t: the server is on $TEST_NGINX_SERVER_PORT (Test::Nginx's 1984, or
    what the environment says), so a block's own server on 8080 is the block's alone."""
    code, verdicts, out = harness_t(ENV / "server-port.t", tmp_path / "default")
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "passed"}, out
    # the environment's port is the one nginx listens on: a copy expecting 1984 sees 1990
    literal = tmp_path / "t" / "literal.t"
    literal.parent.mkdir()
    literal.write_text((ENV / "server-port.t").read_text().replace("port $ServerPort", "port 1984"))
    code, verdicts, out = harness_t(literal, tmp_path / "env", env={"TEST_NGINX_SERVER_PORT": "1990"})
    assert verdicts == {"TEST 1": "failed", "TEST 2": "passed"} and "response_body 'port 1990\\n'" in out, out


def test_filters_with_arguments(harness_stage, tmp_path):
    code, verdicts, out = harness_t(ENV / "filters.t", tmp_path)
    assert code == 0 and verdicts == {"TEST 1": "passed", "TEST 2": "passed"}, out


def test_a_host_file_a_config_names_by_absolute_path_is_mounted_where_it_is_named(harness_stage, tmp_path):
    """tests/tnginx/env/host-path.t opens $TEST_NGINX_CERT_DIR/answer.txt, a directory outside the suite:
    as under prove (nginx on the host) the block reads it; a name for a missing file stays missing."""
    import os

    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "answer.txt").write_text("from the host\n")
    env = {**os.environ, "TEST_NGINX_CERT_DIR": str(certs)}
    run = [sys.executable, "-m", "harness.cli", "t", str(ENV / "host-path.t"), "--reports"]
    proc = subprocess.run([*run, str(tmp_path / "there")], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env["TEST_NGINX_CERT_DIR"] = str(tmp_path / "absent")
    proc = subprocess.run([*run, str(tmp_path / "absent-run")], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 1 and "cannot open: " in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_a_lua_dependency_comes_from_lua_path_or_the_lua_path_option(harness_stage, tmp_path):
    """tests/tnginx/env/lua-path.t needs tests/tnginx/deps (outside its suite): without it the block
    fails, classed "Lua module missing"; with --lua-path, or LUA_PATH as prove's nginx would read it
    (its directory mounted into the container), it passes."""
    import os

    code, verdicts, out = harness_t(ENV / "lua-path.t", tmp_path / "none")
    assert code == 1 and verdicts == {"TEST 1": "failed"}, out
    assert causes_of(tmp_path / "none") == {"TEST 1": "Lua module missing: harness_dep.answer"}, out
    assert "FAILED (Lua module missing: harness_dep.answer)" in out
    deps = HERE / "deps"
    code, verdicts, out = harness_t(ENV / "lua-path.t", tmp_path / "option", "--lua-path", str(deps))
    assert code == 0 and verdicts == {"TEST 1": "passed"}, out
    env = {**os.environ, "LUA_PATH": f"{deps}/?.lua;;"}
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "t", str(ENV / "lua-path.t"), "--reports",
                           str(tmp_path / "env")], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_container_reused_by_hup_keeps_its_companion_which_goes_when_it_goes(harness_stage):
    """Blocks with mock peers on one stage: each container gets one companion (a container HUPed into
    the next block keeps it), and closing the stage removes every companion with its container."""
    import docker

    from harness.stage import Stage
    from harness.tnginx.adapter import SuiteStage
    from harness.tnginx.block import build_block
    from harness.tnginx.load import load_tfile
    from harness.tnginx.runner import BlockRunner

    tfile = load_tfile(PEERS)
    pairs = []

    class Recording(SuiteStage):
        def companion(self, nginx, block):
            found = super().companion(nginx, block)
            pairs.append((nginx.get_container_id(), found.get_container_id() if found else None))
            return found

    with Stage(harness_stage.engine, harness_stage.settings, session=harness_stage.session) as stage:
        runner = BlockRunner(Recording(stage, tfile.root))
        for raw in tfile.blocks[1:5]:  # TESTs 2-5: each has a tcp peer
            block = build_block(raw, repeats=2, log_level="warn", workers=1, no_root_location=False,
                                env_to_nginx=[], label=f"peers-{raw.number}")
            result = runner.run(block, 2)
            assert result.verdict == "passed", result.format()
    assert all(companion for _, companion in pairs)
    assert len({n for n, _ in pairs}) < len(pairs)  # a container served more than one block
    assert len(set(pairs)) == len({n for n, _ in pairs})  # one companion per container, kept across blocks
    client = docker.from_env()
    try:
        left = [c for _, c in pairs if c and client.containers.list(all=True, filters={"id": c})]
    finally:
        client.close()
    assert left == []
