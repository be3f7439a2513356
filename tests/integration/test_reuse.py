"""Reuse a running master across tests: config switch by HUP, new worker generation, no sleeps."""
from dataclasses import replace

import pytest

from harness.nginx_conf import Fixture

pytestmark = pytest.mark.integration


def own_stage(harness_stage):
    """A stage of the test's own: the container it released is the only idle one of its shape (the
    session's pool picks, of several, the one whose master reloaded longest ago)."""
    from harness.stage import Stage
    return Stage(harness_stage.engine, harness_stage.settings, session=harness_stage.session)


def test_same_shape_is_reused_with_a_new_generation_of_workers(harness_stage):
    with own_stage(harness_stage) as stage:
        first = stage.openresty(Fixture.inline("one", config="location = / { content_by_lua_block { ngx.say('one') } }"),
                                workers=2)
        old_workers = {w.pid for w in first.workers().workers}
        container_id, generation = first.get_container_id(), first.generation
        stage.release(first)

        second = stage.openresty(Fixture.inline("two", config="location = / { content_by_lua_block { ngx.say('two') } }"),
                                 workers=2)
        assert second.get_container_id() == container_id
        assert second.generation == generation + 1
        with second.client() as client:
            assert client.get("/").text == "two\n"
        new_workers = {w.pid for w in second.workers().workers}
        assert len(new_workers) == 2 and not (new_workers & old_workers)
        assert "reconfiguring" in second.error_log(0)


def test_different_shape_gets_its_own_container(openresty, harness_stage):
    one = openresty("hello")
    harness_stage.release(one)
    openresty.started.remove(one)
    two = openresty("hello", nofile=4096)  # a container's limits: no HUP changes them
    assert one.get_container_id() != two.get_container_id()
    assert {w.nofile for w in two.workers().workers} == {4096}


def test_workers_and_the_log_level_change_by_hup_on_the_same_container(harness_stage):
    with own_stage(harness_stage) as stage:
        first = stage.openresty(Fixture.inline("quiet", config="location = / { return 204; }"),
                                workers=1, error_log_level="warn")
        container_id = first.get_container_id()
        stage.release(first)
        second = stage.openresty(Fixture.inline("loud", config="location = / { content_by_lua_block { "
                                                "ngx.log(ngx.INFO, 'info line') } }"), workers=2, error_log_level="info")
        assert second.get_container_id() == container_id and second.spec.workers == 2
        assert len(second.workers().workers) == 2
        with second.client() as client:
            client.get("/")
        second.log.assert_logged("info line")


def test_fresh_container_when_reuse_is_off(openresty, harness_stage):
    first = openresty("hello", reuse=False)
    first_id = first.get_container_id()
    harness_stage.release(first)
    openresty.started.remove(first)
    second = openresty("hello", reuse=False)
    assert second.get_container_id() != first_id


# A worker of this fixture logs an [error] line 50 ms after it is told to exit: what an old
# generation writes while a switch retires it. The next test's view of error.log must not contain it.
LOUD_EXIT = """
init_worker_by_lua_block {
    dofile("${HARNESS_LUALIB}/heartbeat.lua").start()
    local ok, err = ngx.timer.at(3600, function(premature)
        if premature then
            ngx.sleep(0.05)  -- a shutting-down worker waits for its running timers
            ngx.log(ngx.ERR, "old generation exiting")
        end
    end)
    if not ok then
        ngx.log(ngx.ERR, "timer: ", err)
    end
}
"""


@pytest.mark.allow_log_problems
def test_an_old_generations_last_lines_stay_out_of_the_next_tests_view(openresty, harness_stage):
    nginx = openresty.inline("location = / { return 204; }", http_config=LOUD_EXIT)
    # what the pool does for the next test: switch (the prefetcher, or acquire), then hand out
    nginx.switch(Fixture.inline("next", config="location = / { return 200 'new'; }"))
    log = nginx.hand_out()
    assert "old generation exiting" in nginx.error_log(0)  # it was written, before the hand-out
    assert not log.grep("old generation exiting")
    log.assert_not_logged("[error]")
    # the master's notices about the retired workers come up to 100 ms later: not ours either
    with nginx.client() as client:
        assert client.get("/").text == "new"
    assert not [e for e in log.entries(settle=True) if "exited with code" in e.message]


@pytest.mark.parametrize("path", ["agent", "engine"])
def test_a_switch_goes_through_the_agent_or_else_the_engine(openresty, harness_stage, path):
    nginx = openresty("hello")
    assert nginx.io.via == "agent"  # this machine: root, and the engine shares our files
    link = nginx.io.agent
    if path == "engine":
        nginx.io.use_engine()  # as where the engine runs elsewhere: docker exec of /harness/bin/activate
    try:
        nginx.switch(harness_stage.fixture("log-phase"))
        assert ("agent.verdict" in nginx.last_switch) == (path == "agent")
        assert {w.pid for w in nginx.workers().workers} == {nginx.channel.status()["pid"]}
        with pytest.raises(Exception, match="already defined"):
            nginx.switch(harness_stage.fixture("broken-duplicate-dict"))
        nginx.log.assert_not_logged("already defined")  # the rejection is the switch's error, not the test's
    finally:
        nginx.io.use_agent(link)


def test_the_agent_lists_the_same_processes_as_the_engine(openresty):
    nginx = openresty.inline("location = / { return 204; }", workers=2)
    through_agent = nginx.workers()
    link = nginx.io.use_engine()
    try:
        through_engine = nginx.workers()
    finally:
        nginx.io.use_agent(link)
    assert [(p.pid, p.role, p.nofile) for p in through_agent.processes] == \
        [(p.pid, p.role, p.nofile) for p in through_engine.processes]
    assert len(through_agent.workers) == 2 and through_agent.master is not None
    assert all(p.fds > 3 and p.rss_mb > 1 for p in through_agent.processes)


def test_a_file_in_the_logs_directory_reads_the_same_through_the_agent_and_the_engine(openresty):
    # written by the master (root; the logs directory is not the workers'), as a suite's side log is
    nginx = openresty.inline("location = / { return 204; }", http_config="""init_by_lua_block {
        local f = assert(io.open("/harness/logs/side.log", "a"))
        f:write("side line\\n")
        f:close()
    }""")
    assert nginx.read_log_file(0, "absent.log") == ""  # not written: nothing to read
    through_agent = nginx.read_log_file(0, "side.log")
    link = nginx.io.use_engine()
    assert link is not None and link.call("log 0 side.log", timeout=5.0).output == through_agent
    try:
        through_engine = nginx.read_log_file(0, "side.log")
        assert nginx.read_log_file(0, "absent.log") == ""
    finally:
        nginx.io.use_agent(link)
    assert through_agent == through_engine and through_agent.startswith("side line\n")
    with pytest.raises(ValueError, match="plain file name"):
        nginx.read_log_file(0, "../conf/nginx.conf")
    with pytest.raises(ValueError, match="plain file name"):
        nginx.read_log_file(0, "..")
    assert link.call("log 0 ..", timeout=5.0).code != 0  # the agent refuses it too


def test_a_switch_makes_its_generations_html_the_servers_and_keeps_a_kept_listeners_socket(harness_stage):
    """A generation's html/ becomes the server's html directory (copied by the agent without a process
    while no unix socket is there, else by the shell): the last generation's files and what a test wrote
    there go, nested directories come, directories 0777 and files 0666 (the workers may write there);
    a unix socket that a kept listener holds stays."""
    socket_server = "server { listen unix:/harness/html/kept.sock; location / { return 204; } }"
    listing = "cd /harness/html/ && find . -mindepth 1 -printf '%p %y %m\\n' | sort"

    def fixture(name: str, files: dict[str, bytes], http_config: str = "") -> Fixture:
        inline = Fixture.inline(name, config="location = / { return 204; }", http_config=http_config)
        return replace(inline, files={f"html/{k}": v for k, v in files.items()})

    with own_stage(harness_stage) as stage:
        nginx = stage.openresty(fixture("one", {"index.html": b"one", "sub/dir/a.txt": b"A"}, socket_server))
        assert nginx.sh(listing)[1].split("\n")[:-1] == [
            "./index.html f 666", "./kept.sock s 666", "./sub d 777", "./sub/dir d 777", "./sub/dir/a.txt f 666"]
        nginx.sh("echo written > /harness/html/written.txt && mkdir /harness/html/made")
        nginx.switch(fixture("two", {"index.html": b"two", "b/c.txt": b"C"}, socket_server))  # the socket: the shell
        assert nginx.sh(listing)[1].split("\n")[:-1] == [
            "./b d 777", "./b/c.txt f 666", "./index.html f 666", "./kept.sock s 666"]
        assert nginx.sh("cat /harness/html/index.html")[1] == "two"
        nginx.switch(fixture("three", {"deep/er/x.txt": b"X"}))  # its listener goes with this reload
        nginx.sh("echo written > /harness/html/deep/er/y.txt")
        nginx.switch(fixture("four", {"last.txt": b"L"}))  # no socket left: the agent alone
        assert nginx.sh(listing)[1].split("\n")[:-1] == ["./last.txt f 666"]
        nginx.switch(fixture("five", {}))  # no html/ of its own: the directory stays as it was
        assert nginx.sh(listing)[1].split("\n")[:-1] == ["./last.txt f 666"]
        stage.release(nginx)
