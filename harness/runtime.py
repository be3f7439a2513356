"""One harness run: engine, stage and image facts, created lazily and closed once.

The pytest plugin holds one of these; so does ``harness doctor``.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Optional

from harness import __version__
from harness.coverage.model import CoverageResult
from harness.engine import Engine
from harness.errors import EngineLost, HarnessError
from harness.images.facts import ImageFacts, as_record, probe, properties
from harness.matrix import image_facts
from harness.resources import shipped
from harness.services import SERVICES
from harness.settings import Settings
from harness.stage import Stage

log = logging.getLogger(__name__)
# OpenResty's image, then each declared service's (the DNS server and the fault proxy run in "tools")
KINDS = tuple(dict.fromkeys(("openresty", *(d.image for d in SERVICES.values()))))


class HarnessRuntime:
    def __init__(self, settings: Settings, rootdir: Path) -> None:
        self.settings = settings
        self.rootdir = rootdir
        self._stage: Optional[Stage] = None
        self._error: Optional[HarnessError] = None
        self.facts: dict[str, ImageFacts] = {}
        self.fact_errors: dict[str, str] = {}
        self.started = time.time()
        self.coverage: Optional[CoverageResult] = None  # written by close() under --harness-coverage
        self.served = ""  # how a warm server (harness.warm) holds this runtime: said in the header

    @property
    def error(self) -> Optional[HarnessError]:
        """Why there is no stage (no engine, say), once :meth:`stage` failed."""
        return self._error

    @property
    def reports_dir(self) -> Path:
        path = Path(self.settings.reports_dir)
        return path if path.is_absolute() else self.rootdir / path

    def stage(self) -> Stage:
        """The stage; raises the same one-line :class:`HarnessError` every time if there is no engine."""
        if self._error is not None:
            raise self._error
        if self._stage is None:
            try:
                self._stage = Stage.open(self.settings, rootdir=self.rootdir)
            except HarnessError as exc:
                self._error = exc
                raise
        return self._stage

    def probe_images(self) -> None:
        """Resolve each image and learn its versions; failures are kept as one-line messages."""
        stage = self.stage()
        for kind in KINDS:
            if kind in self.facts or kind in self.fact_errors:
                continue
            try:
                image = stage.resolver.resolve(kind)
                self.facts[kind] = probe(stage.engine, image, stage.session.labels,
                                         self.reports_dir / ".image-facts.json")
            except HarnessError as exc:
                self.fact_errors[kind] = exc.message

    def openresty_facts(self, image: str = "") -> tuple[str, dict[str, str]]:
        """(summary line, component versions) of OpenResty image ``image`` (empty: the session's), probed
        once per image id; ("", {}) where no test made a stage (no container ran on it) or the image
        cannot be resolved or probed."""
        if self._stage is None:
            return "", {}
        try:
            stage = self.stage()
            facts = probe(stage.engine, stage.openresty_image(image), stage.session.labels,
                          self.reports_dir / ".image-facts.json")
        except HarnessError as exc:
            return exc.message, {}
        return image_facts(as_record(facts))

    def header(self) -> list[str]:
        version = f"harness version: openresty-harness {__version__} at {shipped('harness')}"
        try:
            stage = self.stage()
        except HarnessError as exc:
            return [version, f"harness: {exc.message}"]
        self.probe_images()
        lines = [version, f"harness engine: {stage.engine.describe()}",
                 f"harness session: {stage.session.id}; reach: {stage.reach_mode}; {stage.ryuk}"]
        if stage.swept:
            lines.append(f"harness sweep: removed {stage.swept} left by dead runs")
        if self.served:
            lines.append(f"harness serve: {self.served}")
        for kind in KINDS:
            if kind in self.facts:
                lines.append(f"harness {kind}: {self.facts[kind].summary()}")
            else:
                lines.append(f"harness {kind}: {self.fact_errors.get(kind, 'not resolved')}")
        return lines

    def properties(self) -> dict[str, str]:
        """Facts for JUnit ``<properties>``."""
        props: dict[str, str] = {"harness.version": __version__}
        for kind, f in self.facts.items():
            props.update(properties(kind, f))
        return props

    def record(self) -> dict[str, Any]:
        stage = self._stage
        return {
            "harness_version": __version__,
            "started": self.started,
            "finished": time.time(),
            "session": stage.session.id if stage else None,
            "engine": stage.engine.describe() if stage else (self._error.message if self._error else None),
            "reach": stage.reach_mode if stage else None,
            "ryuk": stage.ryuk if stage else None,
            "images": {kind: as_record(f) for kind, f in self.facts.items()},
            "observed_at_runtime": stage.observed if stage else {},
            "image_errors": self.fact_errors,
            "served": self.served or None,
        }

    def engine_lost(self) -> Optional[EngineLost]:
        """If the run's engine no longer answers a ping, the one-line error that says so."""
        if self._stage is None:
            return None
        try:
            self._stage.engine.client.api.ping()
            return None
        except Exception as exc:  # noqa: BLE001 - any failure to answer means lost
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            return EngineLost(
                f"the Docker engine at {self._stage.engine.address} stopped answering during the run ({reason}): "
                f"check that dockerd runs (`make setup` starts it); the next run sweeps what this one left")

    def begin_run(self, rootdir: Path) -> None:
        """Another run on this runtime's stage (a warm server's): its root directory and start; the
        running services made fresh (data emptied, topologies whole), as a run of its own finds them."""
        self.rootdir, self.started = rootdir, time.time()
        if self._stage is not None:
            self._stage.swept = type(self._stage.swept)()  # said by the run that swept
            self._stage.services.reset_running()

    def end_run(self) -> None:
        """The end of one run whose stage stays for the next: containers prepared for blocks that did
        not run are given back, and ``reports/run.json`` written."""
        if self._stage is None:
            return
        pool = self._stage.pool  # every container a run may start stays for the next (as --watch keeps them)
        pool.max_idle = max(pool.max_idle, pool.per_shape)
        try:
            self._stage.prefetcher.close()
        finally:
            self.write_record()

    def usable(self) -> bool:
        """Whether the stage (if opened) can serve another run: the engine answers and its networks exist."""
        if self._stage is None:
            return self._error is None
        return self.engine_lost() is None and self._stage.networks_exist()

    def session_id(self) -> Optional[str]:
        """The session the stage's resources are labelled with (None before a stage opened)."""
        return self._stage.session.id if self._stage is not None else None

    def write_record(self) -> None:
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        (self.reports_dir / "run.json").write_text(json.dumps(self.record(), indent=2))

    def close(self) -> None:
        """Remove everything this run made and write ``reports/run.json`` (only if a stage was used)."""
        if self._stage is None:
            return
        coverage = self._stage.coverage
        try:
            self._stage.close()
            if coverage is not None:
                self.coverage = coverage.write(self.reports_dir / "coverage")
        except Exception:
            lost = self.engine_lost()
            if lost is None:
                raise
            print(f"\nharness: {lost.message}", file=sys.stderr)
        finally:
            self.write_record()
            self._stage = None
