"""Compatibility matrix: the same tests on several OpenResty images, and what changed between them.

Each image's run gives a :class:`Verdict` per test (read from the JUnit XML every front end writes,
or recorded by the pytest plugin); :class:`Matrix` lines them up: per test the verdict on each
image, the tests whose verdict differs first (each with the first failing check and the error.log
lines that explain it), and each image's component versions (``harness doctor``'s facts). It renders
a text table, JSON, and JUnit XML with one ``<testsuite>`` per image.

:class:`MatrixRun` runs one front end (``harness t``, ``harness run``) per image, side by side, as
child processes with ``--image``; the pytest plugin parametrizes its fixtures per image instead.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

Outcome = Literal["passed", "failed", "skipped"]
CONFLICT: frozenset[str] = frozenset({"passed", "failed"})  # a test with both verdicts fails the matrix
EXPLAINING_LEVELS = ("[warn]", "[error]", "[crit]", "[alert]", "[emerg]")
LOG_LINES = 4  # error.log lines kept per differing test
CORE = ("nginx", "lua-nginx-module", "luajit", "lua-resty-core")  # always shown in the component table
MARK = {"passed": "ok", "failed": "FAIL", "skipped": "skip"}
STOP_GRACE = 60.0  # seconds a stopped run may take to remove its containers


@dataclass(frozen=True)
class Verdict:
    """One test on one image: the outcome, and on failure the first failing check and the error.log
    lines that explain it."""

    outcome: Outcome
    check: str = ""
    log: tuple[str, ...] = ()

    @classmethod
    def of(cls, outcome: str, failure: str = "", error_log: str = "") -> "Verdict":
        """From a front end's outcome (pytest's "error" counts as failed), its failure text and the
        test's error.log text."""
        out: Outcome = "passed" if outcome == "passed" else "skipped" if outcome == "skipped" else "failed"
        if out != "failed":
            return cls(out)
        return cls(out, first_check(failure), explaining_lines(error_log))


def first_check(failure: str) -> str:
    """The first failing check of a failure text: a ``.t`` block's first ``- ...`` line, a
    scenario's first ``FAIL``/``✗`` line, else the first line that says something (an assertion)."""
    lines = [ln.strip() for ln in failure.splitlines() if ln.strip()]
    for line in lines:
        if line.startswith("- "):
            return line[2:][:400]
    for line in lines:
        if line.startswith("E "):
            return line[2:].strip()[:400]
    return lines[0][:400] if lines else ""


def explaining_lines(error_log: str, limit: int = LOG_LINES) -> tuple[str, ...]:
    """The error.log lines at [warn] or worse (the first ``limit``); none if there are none (a
    wrong body with a quiet log: the check says it all)."""
    lines = [ln.rstrip() for ln in error_log.splitlines() if ln.strip()]
    return tuple([ln for ln in lines if any(level in ln for level in EXPLAINING_LEVELS)][:limit])


@dataclass
class ImageRun:
    """One image's run: its verdicts by test, its component versions, and how the run went."""

    label: str  # as given: twin:bookworm, openresty/openresty:1.27.1.2-bookworm
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    components: dict[str, str] = field(default_factory=dict)  # component -> version, "present" or "missing"
    summary: str = ""  # the image's line: nginx/1.22.1, ngx_lua 0.10.23, LuaJIT ... -- its reference
    exit_code: int = 0
    seconds: float = 0.0
    error: str = ""  # why the run itself failed (its last lines)

    def count(self, outcome: str) -> int:
        return sum(v.outcome == outcome for v in self.verdicts.values())

    def tally(self) -> str:
        return (f"{self.count('passed')} passed, {self.count('failed')} failed, {self.count('skipped')} skipped, "
                f"{self.seconds:.1f}s")


@dataclass(frozen=True)
class Row:
    """One test across the images (None: it did not run on that image)."""

    test: str
    verdicts: tuple[Optional[Verdict], ...]

    @property
    def outcomes(self) -> set[str]:
        return {v.outcome for v in self.verdicts if v is not None}

    @property
    def differs(self) -> bool:
        return len(self.outcomes) > 1 or (None in self.verdicts and bool(self.outcomes))

    @property
    def conflict(self) -> bool:
        """Passed on one image and failed on another."""
        return CONFLICT <= self.outcomes

    def failing(self) -> list[tuple[int, Verdict]]:
        return [(i, v) for i, v in enumerate(self.verdicts) if v is not None and v.outcome == "failed"]


def display(test: str) -> str:
    """A test's name for the table: a ``.t`` block as ``t/dir/file.t::TEST N: ...``, a scenario as
    ``dir/file.scenario.yaml::name`` (JUnit's dotted path as a path again)."""
    classname, sep, name = test.rpartition("::")
    for suffix in (".scenario.yaml", ".t"):
        if classname.endswith(suffix):
            classname = classname[:-len(suffix)].replace(".", "/") + suffix
            break
    return f"{classname}{sep}{name}"


class Matrix:
    """The verdicts of several image runs side by side."""

    def __init__(self, runs: Sequence[ImageRun]) -> None:
        self.runs = list(runs)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    def rows(self) -> list[Row]:
        """Every test, those that differ first, otherwise in the order the runs met them."""
        order: dict[str, None] = {}
        for run in self.runs:
            order.update(dict.fromkeys(run.verdicts))
        rows = [Row(t, tuple(run.verdicts.get(t) for run in self.runs)) for t in order]
        return [r for r in rows if r.differs] + [r for r in rows if not r.differs]

    def differences(self) -> list[Row]:
        return [r for r in self.rows() if r.differs]

    def exit_code(self, allow_diff: bool = False) -> int:
        """2: an image's run failed before its tests ran; 1: a test passed on one image and failed on
        another (unless ``allow_diff``), or failed on every image; else 0."""
        if any(r.exit_code == 2 and not r.verdicts for r in self.runs):
            return 2
        rows = self.rows()
        if not allow_diff and any(r.conflict for r in rows):
            return 1
        if any(r.outcomes == {"failed"} for r in rows):
            return 1
        return 0

    def component_rows(self, everything: bool = False) -> list[tuple[str, list[str]]]:
        """(component, version per image): the core ones and those that differ (all: ``everything``)."""
        names: dict[str, None] = {}
        for run in self.runs:
            names.update(dict.fromkeys(run.components))
        out = []
        for name in names:
            values = [run.components.get(name, "?") for run in self.runs]
            if everything or name in CORE or len(set(values)) > 1:
                out.append((name, values))
        return out

    # ---- rendering ------------------------------------------------------------------------------
    def table(self) -> str:
        """The text report: images, differing tests with reasons, the verdict grid, components."""
        labels = self.labels
        out = ["compatibility matrix: " + " | ".join(labels), ""]
        for run in self.runs:
            status = f" -- run failed: {run.error.splitlines()[-1]}" if run.error and not run.verdicts else ""
            out.append(f"  {run.label}: {run.summary or 'versions unknown'}")
            out.append(f"  {' ' * len(run.label)}  {run.tally()}{status}")
        differences = self.differences()
        out += ["", f"differing ({len(differences)}):" if differences else "differing: none"]
        for row in differences:
            cells = ", ".join(f"{label} {MARK[v.outcome] if v else '-'}" for label, v in zip(labels, row.verdicts))
            out.append(f"  {display(row.test)}: {cells}")
            for index, verdict in row.failing():
                out.append(f"    on {labels[index]}: {verdict.check or '(no message)'}")
                quiet = [] if any(level in verdict.check for level in EXPLAINING_LEVELS) else \
                    ["      error.log: nothing at [warn] or worse"]  # unless the check is a log line itself
                out += [f"      error.log: {line}" for line in verdict.log] or quiet
        out += ["", self.grid(), "", "components:", self.component_table()]
        return "\n".join(out)

    def grid(self) -> str:
        rows = self.rows()
        width = min(max((len(display(r.test)) for r in rows), default=4), 90)
        cols = [max(len(label), 4) for label in self.labels]
        head = f"{'test':<{width}}  " + "  ".join(f"{label:<{c}}" for label, c in zip(self.labels, cols)) + "  "
        lines = [head.rstrip(), "-" * len(head)]
        for row in rows:
            name = display(row.test)
            name = name if len(name) <= width else name[:width - 3] + "..."
            cells = "  ".join(f"{MARK[v.outcome] if v else '-':<{c}}" for v, c in zip(row.verdicts, cols))
            lines.append(f"{name:<{width}}  {cells}  {'DIFFERS' if row.differs else 'same'}")
        return "\n".join(lines)

    def component_table(self) -> str:
        rows = self.component_rows()
        if not rows:
            return "  (no component facts)"
        width = max(len(n) for n, _ in rows)
        cols = [max([len(label)] + [len(v[i]) for _, v in rows]) for i, label in enumerate(self.labels)]
        lines = [f"  {'component':<{width}}  " + "  ".join(f"{label:<{c}}" for label, c in zip(self.labels, cols))]
        for name, values in rows:
            mark = "" if len(set(values)) == 1 else "  differs"
            lines.append(f"  {name:<{width}}  " + "  ".join(f"{v:<{c}}" for v, c in zip(values, cols)) + mark)
        hidden = len(self.component_rows(everything=True)) - len(rows)
        if hidden:
            lines.append(f"  ({hidden} more components with the same version on every image: matrix.json)")
        return "\n".join(line.rstrip() for line in lines)

    def as_json(self) -> dict[str, Any]:
        labels = self.labels
        return {
            "images": [{"label": r.label, "summary": r.summary, "exit_code": r.exit_code, "seconds": r.seconds,
                        "error": r.error, "components": r.components,
                        **{k: r.count(k) for k in ("passed", "failed", "skipped")}} for r in self.runs],
            "tests": [{"test": row.test, "differs": row.differs, "conflict": row.conflict,
                       "verdicts": {label: (asdict(v) if v else None) for label, v in zip(labels, row.verdicts)}}
                      for row in self.rows()],
        }

    def junit(self) -> str:
        """JUnit XML: a ``<testsuite>`` per image, its components as properties."""
        root = ET.Element("testsuites", name="compatibility matrix")
        for run in self.runs:
            suite = ET.SubElement(root, "testsuite", name=run.label, tests=str(len(run.verdicts)),
                                  failures=str(run.count("failed")), skipped=str(run.count("skipped")),
                                  errors="0", time=f"{run.seconds:.3f}")
            props = ET.SubElement(suite, "properties")
            for key, value in (("summary", run.summary), *run.components.items()):
                ET.SubElement(props, "property", name=f"harness.matrix.{key}", value=value)
            for test, verdict in run.verdicts.items():
                classname, _, name = test.rpartition("::")
                case = ET.SubElement(suite, "testcase", classname=classname, name=name or test)
                if verdict.outcome == "failed":
                    failure = ET.SubElement(case, "failure", message=verdict.check)
                    failure.text = "\n".join([verdict.check, *verdict.log])
                elif verdict.outcome == "skipped":
                    ET.SubElement(case, "skipped")
        ET.indent(root)
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

    def write(self, reports: Path) -> list[Path]:
        """``matrix.txt``, ``matrix.json`` and ``matrix.xml`` under ``reports``."""
        reports.mkdir(parents=True, exist_ok=True)
        paths = [reports / "matrix.txt", reports / "matrix.json", reports / "matrix.xml"]
        paths[0].write_text(self.table() + "\n")
        paths[1].write_text(json.dumps(self.as_json(), indent=1) + "\n")
        paths[2].write_text(self.junit())
        return paths


# ---- reading one image's run ---------------------------------------------------------------------

def verdicts_from_junit(path: Path) -> dict[str, Verdict]:
    """Each test case of a JUnit file (pytest's, as ``harness t`` and ``harness run`` write it) as a
    verdict, keyed ``classname::name``; the error.log is taken from its ``harness: error.log ...``
    properties."""
    out: dict[str, Verdict] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = f"{case.get('classname', '')}::{case.get('name', '')}"
        failed = case.find("failure") if case.find("failure") is not None else case.find("error")
        log = "\n".join(p.get("value", "") for p in case.iter("property") if "error.log" in p.get("name", ""))
        if failed is not None:
            earlier = out.get(key)  # a test failing in call and teardown is two cases: the first counts
            if earlier is None or earlier.outcome != "failed":
                out[key] = Verdict.of("failed", failed.text or failed.get("message") or "", log)
        elif case.find("skipped") is not None:
            out.setdefault(key, Verdict("skipped"))
        else:
            out.setdefault(key, Verdict("passed"))
    return out


def facts_from_record(record: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(summary line, component versions) of the OpenResty image in a ``run.json`` record."""
    return image_facts((record.get("images") or {}).get("openresty") or {})


def image_facts(image: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(summary line, component versions) of one image's facts (``harness.images.facts.as_record``)."""
    if not image:
        return "", {}
    components = {name: (got.get("version") or "present") if got.get("present") else "missing"
                  for name, got in image.get("components", {}).items()}
    head = (image.get("version") or "?").splitlines()[0].replace("nginx version: ", "")
    lua = components.get("lua-nginx-module", "")
    jit = (image.get("luajit") or "").split(" -- ")[0]
    summary = ", ".join(p for p in (head, f"ngx_lua {lua}" if lua else "", jit) if p)
    return f"{summary} -- {image.get('ref', '')} ({image.get('source', '')})", components


def slug(label: str) -> str:
    """A directory name for an image label."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "image"


class MatrixRecorder:
    """Verdicts reported test by test (the pytest plugin's matrix): ``add`` each phase's outcome; a
    test's worst phase counts, and its first failure."""

    def __init__(self, images: Sequence[str]) -> None:
        self.images = list(images)
        self.verdicts: dict[str, dict[str, Verdict]] = {image: {} for image in self.images}
        self.seconds: dict[str, float] = dict.fromkeys(self.images, 0.0)

    def add(self, test: str, image: str, outcome: str, failure: str = "", error_log: str = "",
            seconds: float = 0.0) -> None:
        verdicts = self.verdicts.setdefault(image, {})
        self.seconds[image] = self.seconds.get(image, 0.0) + seconds
        earlier = verdicts.get(test)
        new = Verdict.of(outcome, failure, error_log)
        if earlier is None or earlier.outcome == "passed" or (earlier.outcome == "skipped" and new.outcome == "failed"):
            verdicts[test] = new

    def include(self, images: Sequence[str]) -> None:
        """More images (a test's ``matrix`` marker), after those known."""
        for image in images:
            if image not in self.images:
                self.images.append(image)
                self.verdicts[image] = {}
                self.seconds[image] = 0.0

    def pytest_runtest_logreport(self, report: Any) -> None:
        """pytest's report of one phase (under pytest-xdist, on the controller too): a matrix cell's
        outcome, failure text and error.log section, its image read from the node id."""
        image = self.image_of(report.nodeid)
        if image is None:
            return
        log = "\n".join(text for title, text in report.sections if title.startswith("error.log"))
        self.add(matrix_key(report.nodeid, image), image, report.outcome,
                 report.longreprtext if report.failed else "", log, report.duration)

    def image_of(self, nodeid: str) -> Optional[str]:
        """The matrix image in a node id's parameters (``f[twin:bookworm]``), the longest that fits."""
        params = nodeid[nodeid.find("[") + 1:-1] if nodeid.endswith("]") and "[" in nodeid else ""
        for image in sorted(self.images, key=len, reverse=True):
            if params == image or params.startswith(image + "-") or params.endswith("-" + image) \
                    or f"-{image}-" in params:
                return image
        return None

    def __bool__(self) -> bool:
        return any(self.verdicts.values())

    def matrix(self, facts: Mapping[str, tuple[str, dict[str, str]]]) -> Matrix:
        """The matrix, with each image's (summary, components) from ``facts``."""
        runs = []
        for image, verdicts in self.verdicts.items():
            summary, components = facts.get(image, ("", {}))
            runs.append(ImageRun(image, dict(verdicts), components, summary, seconds=self.seconds.get(image, 0.0)))
        return Matrix(runs)


def parse_images(text: str) -> list[str]:
    """``twin:bookworm, twin:trixie`` as a list (empty entries dropped, order kept, no repeats)."""
    return list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))


def matrix_key(nodeid: str, image_id: str) -> str:
    """A test's node id without its image parameter (``t.py::f[twin:bookworm]`` -> ``t.py::f``)."""
    for old, new in ((f"[{image_id}]", ""), (f"-{image_id}]", "]"), (f"[{image_id}-", "[")):
        if old in nodeid:
            return nodeid.replace(old, new, 1)
    return nodeid


# ---- running a front end per image ---------------------------------------------------------------

Command = Callable[[str, Path], list[str]]  # (image, its reports directory) -> argv of that image's run


@dataclass
class MatrixRun:
    """One child run per image, ``jobs`` at once (0: all of them, side by side); each writes its
    reports (``junit`` and ``run.json``) under ``reports/<image>/`` and its output to ``output.txt``
    there."""

    images: Sequence[str]
    command: Command
    reports: Path
    junit: str  # the JUnit file name a run writes in its reports directory
    timeout: float = 3600.0  # for the whole matrix
    jobs: int = 0

    def __post_init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []
        self.stopping = threading.Event()  # interrupted: start no more runs

    def directory(self, image: str) -> Path:
        return self.reports / slug(image)

    def run(self) -> Matrix:
        deadline = time.monotonic() + self.timeout
        workers = min(self.jobs or len(self.images), len(self.images))
        pool = ThreadPoolExecutor(workers)  # each run's own start and end, whichever ends first
        try:
            runs = list(pool.map(lambda image: self.run_one(image, deadline), self.images))
        finally:
            self.stopping.set()
            for proc in list(self.running):  # interrupted: each run removes its containers on SIGTERM
                if proc.poll() is None:
                    self.stop(proc)
            pool.shutdown(wait=True)
        return Matrix(runs)

    def run_one(self, image: str, deadline: float) -> ImageRun:
        where = self.directory(image)
        where.mkdir(parents=True, exist_ok=True)
        if self.stopping.is_set() or time.monotonic() >= deadline:
            (where / "output.txt").write_text("not started: the matrix was stopped or ran out of time\n")
            return self.read(image, 2, 0.0)
        began = time.perf_counter()
        with open(where / "output.txt", "w") as out:
            proc = subprocess.Popen(self.command(image, where), stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.running.append(proc)
        try:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            code = self.stop(proc)
        return self.read(image, code, time.perf_counter() - began)

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> int:
        """SIGTERM (the run cleans up after itself), then SIGKILL after :data:`STOP_GRACE` seconds."""
        proc.terminate()
        try:
            return proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()  # what it leaves, the next run's sweep removes
            return proc.wait()

    def read(self, image: str, code: int, seconds: float) -> ImageRun:
        where = self.directory(image)
        junit = where / self.junit
        run = ImageRun(image, exit_code=code, seconds=seconds)
        if junit.is_file():
            run.verdicts = verdicts_from_junit(junit)
        record = where / "run.json"
        if record.is_file():
            run.summary, run.components = facts_from_record(json.loads(record.read_text()))
        if code == 2 or not junit.is_file():
            output = (where / "output.txt").read_text(errors="replace").strip().splitlines()
            run.error = "\n".join(output[-5:]) or f"exit {code}"
        return run


def check_images(images: Sequence[str]) -> list[str]:
    """The matrix's images (repeats dropped); a misspelt twin is a one-line error before anything runs."""
    from harness.errors import HarnessError
    from harness.images.offline import RELEASES
    from harness.images.resolver import TWIN_PREFIX

    out = list(dict.fromkeys(images))
    for image in out:
        if image.startswith(TWIN_PREFIX) and image[len(TWIN_PREFIX):] not in RELEASES:
            raise HarnessError(f"unknown twin {image!r}: give one of "
                               f"{', '.join(TWIN_PREFIX + r for r in RELEASES)} or an image reference")
    if len(out) < 2:
        raise HarnessError(f"a matrix needs two different images, got {', '.join(out) or 'none'}: "
                           "repeat --image (e.g. --image twin:bookworm --image twin:trixie)")
    return out


def harness_argv(*words: str) -> list[str]:
    """The command line of a ``harness`` subcommand in this Python."""
    return [sys.executable, "-m", "harness.cli", *words]
