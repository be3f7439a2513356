"""The preflight report: one verdict per check with its evidence, as a table and as JSON."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

CHECKS = ("config", "modules", "native", "shared_dicts", "start", "workers", "memory", "connections", "lint",
          "blocking")
TITLES = {
    "config": "nginx -t",
    "modules": "require resolves in the image",
    "native": "native libraries (ldd)",
    "shared_dicts": "ngx.shared vs lua_shared_dict",
    "start": "starts under the limits",
    "workers": "workers vs CPU quota",
    "memory": "worker memory vs limit",
    "connections": "worker_connections vs nofile",
    "lint": "luacheck (ngx_lua)",
    "blocking": "blocking calls on the worker",
}


class Verdict(str, Enum):
    """ok, warn or fail; skip when the check could not run (the evidence says why)."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Finding:
    """One piece of evidence: where (file:line of the app, when known) and what, with the fix."""

    message: str
    where: str = ""
    verdict: Verdict = Verdict.WARN

    def format(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(frozen=True)
class CheckResult:
    name: str  # one of CHECKS
    verdict: Verdict
    summary: str  # one line
    findings: tuple[Finding, ...] = ()
    detail: str = ""  # raw output (nginx -t, ldd, luacheck) for the report, mapped to the app's paths
    seconds: float = 0.0

    @classmethod
    def from_findings(cls, name: str, findings: list[Finding], ok_summary: str, detail: str = "") -> "CheckResult":
        """The worst finding's verdict (ok without any), summarised by the first of the worst."""
        order = [Verdict.FAIL, Verdict.WARN]
        for level in order:
            worst = [f for f in findings if f.verdict == level]
            if worst:
                more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
                return cls(name, level, worst[0].format() + more, tuple(findings), detail)
        return cls(name, Verdict.OK, ok_summary, tuple(findings), detail)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": TITLES.get(self.name, self.name), "verdict": self.verdict.value,
                "summary": self.summary, "seconds": round(self.seconds, 3),
                "findings": [{"verdict": f.verdict.value, "where": f.where, "message": f.message}
                             for f in self.findings], "detail": self.detail}


@dataclass
class PreflightReport:
    """All checks of one app: ``exit_code`` 0 (no fail), 1 (a fail); the CLI adds 2 (could not run)."""

    app: str
    image: str
    options: dict[str, Any]
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no preflight check {name!r}: the checks are {', '.join(CHECKS)}")

    @property
    def verdicts(self) -> dict[str, str]:
        return {c.name: c.verdict.value for c in self.checks}

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.verdict == Verdict.FAIL]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def not_ok(self) -> dict[str, str]:
        """Checks whose verdict is warn or fail: what a faulty fixture must show, and only that."""
        return {c.name: c.verdict.value for c in self.checks if c.verdict in (Verdict.WARN, Verdict.FAIL)}

    def format(self, evidence_lines: int = 8) -> str:
        """A plain-text table: check, verdict, summary; then each non-ok check's evidence."""
        width = max(len(TITLES[c.name]) for c in self.checks) if self.checks else 10
        lines = [f"preflight of {self.app} on {self.image} ({self._options()}): "
                 f"{self.headline()} in {self.seconds:.1f} s"]
        for c in self.checks:
            lines.append(f"  {TITLES[c.name]:<{width}}  {c.verdict.value.upper():<4}  {c.summary}")
        for c in self.checks:
            shown = [f for f in c.findings if f.verdict != Verdict.OK]
            if c.verdict in (Verdict.OK, Verdict.SKIP) or not c.detail and [f.format() for f in shown] == [c.summary]:
                continue
            lines.append(f"--- {TITLES[c.name]}: {c.verdict.value}")
            lines += [f"  {f.verdict.value:<4} {f.format()}".replace("\n", "\n       ") for f in shown[:evidence_lines]]
            if len(shown) > evidence_lines:
                lines.append(f"  ... {len(shown) - evidence_lines} more in the JSON report")
            if c.detail:
                lines += ["  | " + ln for ln in c.detail.splitlines()[:evidence_lines * 2]]
        return "\n".join(lines)

    def headline(self) -> str:
        counts = {v: sum(c.verdict == v for c in self.checks) for v in Verdict}
        return ", ".join(f"{n} {v.value}" for v, n in counts.items() if n) or "no checks"

    def _options(self) -> str:
        o = self.options
        return (f"cpus {o.get('cpus')}, memory {o.get('memory')}, nofile {o.get('nofile') or 'engine default'}, "
                f"workers {o.get('workers')}")

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "image": self.image, "options": self.options, "seconds": round(self.seconds, 3),
                "exit_code": self.exit_code, "verdicts": self.verdicts,
                "checks": [c.as_dict() for c in self.checks]}

    def write_json(self, path: Optional[Path] = None, reports_dir: str = "reports") -> Path:
        """Write the JSON (default ``reports/preflight/<app>-<time>.json``); return its path."""
        if path is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = Path(reports_dir) / "preflight" / f"{Path(self.app).name}-{stamp}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return path
