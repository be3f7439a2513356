"""ControlChannel.generation: readiness without Lua, the nginx version as ngx.config.nginx_version spells it."""
from __future__ import annotations

from types import SimpleNamespace

import httpx

from harness.containers.control import ControlChannel
from harness.containers.transport import ContainerIO
from harness.nginx_conf import GENERATION_PATH


def channel(status: int, body: str) -> ControlChannel:
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(status, text=body)
    box = SimpleNamespace(endpoint=lambda port: ("127.0.0.1", port))
    ch = ControlChannel(box, ContainerIO(box), client=httpx.Client(transport=httpx.MockTransport(answer)))
    ch.seen = seen  # type: ignore[attr-defined]
    return ch


def test_the_generation_and_the_nginx_version_as_a_number():
    ch = channel(200, '{"generation":3,"nginx_version":"1.22.1"}')
    assert ch.generation() == {"generation": 3, "nginx": 1022001}
    assert ch.seen == [GENERATION_PATH]


def test_an_error_status_is_no_answer():
    assert channel(404, "not found").generation() is None
