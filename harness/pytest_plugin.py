"""The core pytest plugin (entry point ``pytest11``): core options, header, fixtures, engine-lost
handling, failure sections, the matrix and coverage at session end. Wiring only. The front ends are
plugins of their own that it registers (``pytest_plugins``): :mod:`harness.scenarios.plugin` and
:mod:`harness.tnginx.plugin`, each with its options, collection and session end; so are the
preflight's and ``harness perf``'s options (:mod:`harness.preflight.plugin`, :mod:`harness.perf.plugin`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ContextManager, Generator, Iterator, Optional

import pytest

from harness.containers import FaultProxyContainer, OpenRestyContainer, RedisContainer
from harness.coverage.run import below_minimum
from harness.coverage.scope import CoverageScope
from harness.dependencies import Dependencies
from docker.errors import DockerException

from harness.errors import EngineLost, HarnessError
from harness.faults import RedisFault, WorkerFault
from harness.faults.registry import FaultSpec, hold
from harness.load import LoadResult, run_load_on
from harness.factory import BoundClient, LogProblemPolicy, OpenRestyFactory, binder
from harness.matrix import Matrix, MatrixRecorder, parse_images
from harness.pytest_stage import RUNTIME, add_options, given_options, session_stage
from harness.services import SERVICE_NAMES, SERVICES, Service, route_to
from harness.settings import Settings
from harness.stage import Stage
from harness.topologies import RedisCluster, ReplicatedRedis, SentinelRedis
from harness.topologies.group import ContainerGroup
from harness.warm import WARM

FACTORY = pytest.StashKey[OpenRestyFactory]()
TOPOLOGIES = pytest.StashKey[list[tuple[str, ContainerGroup]]]()
MATRIX = pytest.StashKey[MatrixRecorder]()
MATRIX_DONE = pytest.StashKey[Matrix]()
HARNESS_FIXTURES = {"harness_stage", "openresty", "http", "nginx", "redis_fault", "redis_proxy", "preflight",
                    "dependencies", "fault", "redis_replicated", "redis_sentinel", "redis_cluster", *SERVICE_NAMES}
TOPOLOGY_MARKER = "redis_topology"
FRONT_ENDS = ("harness.scenarios.plugin", "harness.tnginx.plugin")  # each owning its options, collection, session end
FEATURES = ("harness.preflight.plugin", "harness.perf.plugin")  # their options (and the preflight fixture)
pytest_plugins = (*FRONT_ENDS, *FEATURES)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, Settings.OPTIONS, repeatable=frozenset({"openresty_image"}))  # twice or more: a matrix


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a Docker engine and images (real containers)")
    config.addinivalue_line("markers", "openresty(fixture, **options): the OpenResty the http fixture binds to")
    config.addinivalue_line("markers", f"{TOPOLOGY_MARKER}(**options): options of the redis_replicated, "
                            "redis_sentinel or redis_cluster fixture (replicas=, sentinels=, quorum=, down_after_ms=, masters=...)")
    config.addinivalue_line("markers", "allow_log_problems(*patterns): [crit]/[alert]/[emerg] and Lua runtime "
                            "errors matching a pattern (all, without patterns) do not fail the test")
    config.addinivalue_line("markers", "matrix(*images): run this test once per OpenResty image (references or "
                            "twin:NAME), beside the session's --harness-matrix images")
    given = given_options(config, Settings.OPTIONS)
    images = given["openresty_image"] or []
    given["openresty_image"] = images[0] if len(images) == 1 else None
    if len(images) > 1:
        given["matrix"] = ",".join(images)
    try:
        settings = Settings.from_sources(given)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.coverage:
        try:
            CoverageScope(settings.coverage, Path.cwd())
        except HarnessError as exc:
            raise pytest.UsageError(exc.message) from None
    config.stash[RUNTIME] = WARM.runtime(settings, Path(str(config.rootpath)))  # a warm server's kept one
    if settings.matrix:
        recorder = config.stash[MATRIX] = MatrixRecorder(parse_images(settings.matrix))
        config.pluginmanager.register(recorder, "harness-matrix")  # its pytest_runtest_logreport


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A matrix (``--harness-matrix``, ``--openresty-image`` twice, ``@pytest.mark.matrix``): each test
    that starts OpenResty once per image, its id the image."""
    marker = metafunc.definition.get_closest_marker("matrix")
    images = parse_images(metafunc.config.stash[RUNTIME].settings.matrix)
    if marker is not None:
        images = list(dict.fromkeys([*images, *marker.args]))
    if images and "harness_image" in metafunc.fixturenames:
        metafunc.parametrize("harness_image", images, indirect=True, ids=images)
        recorder = metafunc.config.stash.get(MATRIX, None)
        if recorder is None:  # a marker's matrix alone
            recorder = metafunc.config.stash[MATRIX] = MatrixRecorder([])
            metafunc.config.pluginmanager.register(recorder, "harness-matrix")
        recorder.include(images)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if getattr(config.option, "collectonly", False):
        return []
    return config.stash[RUNTIME].header()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HARNESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def _engine_lost_is_the_cause(item: pytest.Item) -> Iterator[None]:
    """A failure while the engine is gone is reported as that, in one line, not as a traceback."""
    try:
        return (yield)
    except (OSError, DockerException, HarnessError) as exc:
        uses_engine = HARNESS_FIXTURES & set(getattr(item, "fixturenames", ()))
        lost = item.config.stash[RUNTIME].engine_lost() if uses_engine else None
        if lost is None or isinstance(exc, EngineLost):
            raise
        raise lost from None


pytest_runtest_setup = pytest.hookimpl(wrapper=True)(_engine_lost_is_the_cause)
pytest_runtest_call = pytest.hookimpl(wrapper=True)(_engine_lost_is_the_cause)
pytest_runtest_teardown = pytest.hookimpl(wrapper=True)(_engine_lost_is_the_cause)


def pytest_sessionfinish(session: pytest.Session) -> None:
    runtime = session.config.stash[RUNTIME]
    recorder = session.config.stash.get(MATRIX, None)
    if recorder and not hasattr(session.config, "workerinput"):
        matrix = recorder.matrix({image: runtime.openresty_facts(image) for image in recorder.images})
        matrix.write(runtime.reports_dir)
        session.config.stash[MATRIX_DONE] = matrix
        if runtime.settings.allow_diff == "on" and session.exitstatus == 1 and matrix.exit_code(allow_diff=True) == 0:
            session.exitstatus = 0  # every failure is a difference between images, and those are only reported
    # the front ends' session ends ran first (tryfirst); a warm server keeps the stage of a run that ended normally
    WARM.finish(runtime, reusable=session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                                                         pytest.ExitCode.NO_TESTS_COLLECTED))
    if runtime.coverage is not None:
        short = below_minimum(runtime.coverage, runtime.settings.coverage_min)
        if short is not None and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    matrix = config.stash.get(MATRIX_DONE, None)
    if matrix is not None:
        terminalreporter.write_sep("=", f"compatibility matrix: {len(matrix.differences())} test(s) differ")
        terminalreporter.write_line(matrix.table())
        terminalreporter.write_line(f"(also {config.stash[RUNTIME].reports_dir}/matrix.txt, .json, .xml)")
    coverage = config.stash[RUNTIME].coverage
    if coverage is not None:
        terminalreporter.write_sep("=", coverage.summary())
        terminalreporter.write_line(f"coverage reports: {config.stash[RUNTIME].reports_dir / 'coverage'}/"
                                    "{lcov.info,index.html}")
        short = below_minimum(coverage, config.stash[RUNTIME].settings.coverage_min)
        if short is not None:
            terminalreporter.write_line(short, red=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and call.when == "call":
        for name, group in item.stash.get(TOPOLOGIES, []):  # roles, offsets, clients, Sentinels' view
            report.sections.append((f"{name} when the test failed", topology_evidence(group)))
    factory = item.stash.get(FACTORY, None)
    if report.failed and factory is not None:
        sections = factory.evidence()
        report.sections.extend(sections)
        # JUnit gets the same data as <property> elements of the test case (pytest-html shows sections).
        item.user_properties.extend((f"harness: {title}", text) for title, text in sections)
    return report


@pytest.fixture
def harness_image(request: pytest.FixtureRequest) -> str:
    """The OpenResty image of this test's matrix cell (empty: the session's image)."""
    return str(getattr(request, "param", ""))


@pytest.fixture(scope="session", autouse=True)
def _harness_properties(pytestconfig: pytest.Config, record_testsuite_property: Callable[[str, object], None]
                        ) -> None:
    for key, value in pytestconfig.stash[RUNTIME].properties().items():
        record_testsuite_property(key, value)


@pytest.fixture(scope="session")
def harness_stage(pytestconfig: pytest.Config) -> Stage:
    """The session's :class:`harness.stage.Stage`. Without an engine: skip, or fail when ``CI=true``."""
    return session_stage(pytestconfig)


@pytest.fixture
def openresty(harness_stage: Stage, request: pytest.FixtureRequest, harness_image: str) -> Iterator[OpenRestyFactory]:
    """Factory: ``openresty("fixture-name", workers=2, env={...}, memory="256m", cpus=1, nofile=1024)``."""
    marker = request.node.get_closest_marker("openresty")
    declared = tuple(name for name in SERVICE_NAMES if name in request.fixturenames)  # the test's service fixtures
    factory = OpenRestyFactory(harness_stage, (marker.args, marker.kwargs) if marker else None, image=harness_image,
                               services=declared)
    request.node.stash[FACTORY] = factory
    yield factory
    failure = factory.close(LogProblemPolicy.from_marker(request.node.get_closest_marker("allow_log_problems")))
    if failure:
        pytest.fail(failure, pytrace=False)


def service_fixture(name: str) -> Any:
    """The pytest fixture of service ``name``: the session's, made fresh for the test. Using it
    declares the service: OpenResty started in the test gets its address (``services=``)."""
    definition = SERVICES[name]

    def fixture(harness_stage: Stage) -> Service:
        return harness_stage.services.reset(name)
    fixture.__name__ = name
    fixture.__doc__ = (f"{definition.doc[0].upper()}{definition.doc[1:]}, made fresh for this test ({definition.reset}). "
                       f"OpenResty started in the test gets {'/'.join(definition.env)}.")
    return pytest.fixture(name=name)(fixture)


# one fixture per declared service, named after it (redis, dns, memcached...): a new service needs no line here
globals().update({name: service_fixture(name) for name in SERVICE_NAMES})  # topologies: below


TOPOLOGY_CLASSES: dict[str, Callable[..., ContainerGroup]] = {
    "redis_replicated": ReplicatedRedis, "redis_sentinel": SentinelRedis, "redis_cluster": RedisCluster}


def topology_fixture(name: str) -> Any:
    """The pytest fixture of topology service ``name``: the session's, made fresh for the test; with
    ``@pytest.mark.redis_topology(**options)`` one of the test's own (the class's defaults under the
    options given), started, removed after it, and the test's service ``name`` meanwhile."""
    definition = SERVICES[name]

    def fixture(harness_stage: Stage, request: pytest.FixtureRequest) -> Iterator[Service]:
        marker = request.node.get_closest_marker(TOPOLOGY_MARKER)
        if marker is None:
            service = harness_stage.services.reset(name)
            if isinstance(service, ContainerGroup):
                request.node.stash.setdefault(TOPOLOGIES, []).append((name, service))
            yield service
            return
        # the options' own defaults (1 replica for Sentinel) under those the marker gives
        options = type(definition.options).parse(marker.kwargs)
        group = TOPOLOGY_CLASSES[name](harness_stage.resolver.resolve("redis"), harness_stage.session,
                                       harness_stage.reach, options, harness_stage.settings.start_timeout)
        request.node.stash.setdefault(TOPOLOGIES, []).append((name, group))
        group.start()
        try:
            with harness_stage.services.provided(name, group):
                yield group
        finally:
            group.stop()
    fixture.__name__ = name
    fixture.__doc__ = (f"{definition.doc[0].upper()}{definition.doc[1:]}: the session's, made fresh for this test "
                       f"({definition.reset}); OpenResty started in the test gets {'/'.join(definition.env)}. "
                       f"``@pytest.mark.{TOPOLOGY_MARKER}(**options)``: one of the test's own.")
    return pytest.fixture(name=name)(fixture)


def topology_evidence(group: ContainerGroup) -> str:
    try:
        return group.describe()
    except Exception as exc:  # noqa: BLE001 - evidence must not hide the failure
        return f"(could not describe it: {type(exc).__name__}: {exc})"


# the topologies' fixtures: the session's service, or the test's own under the marker
globals().update({name: topology_fixture(name) for name in TOPOLOGY_CLASSES})


@pytest.fixture
def http(openresty: OpenRestyFactory, request: pytest.FixtureRequest, pytestconfig: pytest.Config
         ) -> Iterator[BoundClient]:
    """httpx client bound to the OpenResty of ``@pytest.mark.openresty(...)``, else the last one started."""
    timeout = pytestconfig.stash[RUNTIME].settings.http_timeout
    with BoundClient(binder(openresty), timeout=timeout) as client:
        yield client


@pytest.fixture
def redis_proxy(harness_stage: Stage, redis: RedisContainer) -> Iterator[FaultProxyContainer]:
    """A fault proxy in front of Redis for this test. Start OpenResty with
    ``env={"REDIS_HOST": redis_proxy.ip}`` to send its Redis traffic through it, then
    ``with redis_proxy.route("redis").latency(300): ...`` and the other toxics."""
    proxy = harness_stage.fault_proxy(route_to("redis", redis))
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def dependencies(harness_stage: Stage) -> Callable[..., Dependencies]:
    """``dependencies(nginx)``: counters of its Redis, fault proxies and DNS; ``before = deps.snapshot()``,
    then ``deps.delta(before).usage(requests=n)`` (see :mod:`harness.dependencies`)."""
    return harness_stage.dependencies


@pytest.fixture
def load() -> Callable[..., LoadResult]:
    """``load(nginx_or_url, users=10, duration=5, paths=("/",), rate=None, processes=1, locustfile=None,
    client="fast", workers=0, remote_workers=0, ...)`` (see :class:`harness.load.LoadSpec`): locust in
    its own processes; returns a :class:`harness.load.LoadResult`."""
    return run_load_on


@pytest.fixture
def redis_fault(redis: RedisContainer) -> RedisFault:
    """Faults of the session's Redis: ``with redis_fault.refusing(): ...`` (see harness.faults)."""
    return RedisFault(redis)


@pytest.fixture
def fault(harness_stage: Stage) -> Callable[..., ContextManager[object]]:
    """``with fault("redis.refusing"): ...``, ``fault("proxy.latency", proxy=redis_proxy, ms=300)``,
    ``fault("worker.kill", nginx=nginx)``: any fault of docs/faults.md, by name, undone at the end."""
    def held(kind: str, *, nginx: Optional[OpenRestyContainer] = None, proxy: Optional[FaultProxyContainer] = None,
             **params: Any) -> ContextManager[object]:
        return hold(FaultSpec.model_validate({"kind": kind, **params}), harness_stage.services.use, nginx, proxy)
    return held


@pytest.fixture
def worker_fault() -> type[WorkerFault]:
    """``worker_fault(nginx).kill_worker()``, ``with worker_fault(nginx).stopped_worker(): ...``."""
    return WorkerFault


@pytest.fixture
def nginx(openresty: OpenRestyFactory, request: pytest.FixtureRequest) -> OpenRestyContainer:
    """The OpenResty named by ``@pytest.mark.openresty(...)`` (required), started for this test with the
    services the test's fixtures declare (``redis``, ``dns``, ``memcached``)."""
    return openresty.marked()
