"""Reuse a running master across tests: config switch by HUP, new worker generation, no sleeps."""
import pytest

pytestmark = pytest.mark.integration


def test_same_shape_is_reused_with_a_new_generation_of_workers(openresty, harness_stage):
    first = openresty.inline("location = / { content_by_lua_block { ngx.say('one') } }", workers=2)
    old_workers = {w.pid for w in first.workers().workers}
    container_id, generation = first.get_container_id(), first.generation
    harness_stage.release(first)
    openresty.started.remove(first)

    second = openresty.inline("location = / { content_by_lua_block { ngx.say('two') } }", workers=2)
    assert second.get_container_id() == container_id
    assert second.generation == generation + 1
    with second.client() as client:
        assert client.get("/").text == "two\n"
    new_workers = {w.pid for w in second.workers().workers}
    assert len(new_workers) == 2 and not (new_workers & old_workers)
    assert "reconfiguring" in second.error_log(0)


def test_different_shape_gets_its_own_container(openresty):
    one = openresty("hello", workers=1)
    two = openresty("hello", workers=2)
    assert one.get_container_id() != two.get_container_id()
    assert len(two.workers().workers) == 2


def test_fresh_container_when_reuse_is_off(openresty, harness_stage):
    first = openresty("hello", reuse=False)
    first_id = first.get_container_id()
    harness_stage.release(first)
    openresty.started.remove(first)
    second = openresty("hello", reuse=False)
    assert second.get_container_id() != first_id
