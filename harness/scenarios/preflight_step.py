"""A scenario's ``preflight:`` step: the preflight's verdicts as :class:`~harness.scenarios.checks.Check` s."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from harness.nginx_conf import Fixture
from harness.preflight import Preflight, PreflightOptions, PreflightReport, Verdict
from harness.preflight.settings import PreflightSettings
from harness.preflight.step import PreflightStep
from harness.scenarios.checks import Check

if TYPE_CHECKING:
    from harness.stage import Stage


def run_preflight(stage: "Stage", step: PreflightStep, app: Fixture,
                  settings: Optional[PreflightSettings] = None) -> tuple[PreflightReport, list[Check]]:
    """Preflight ``app`` with the step's options (unset: ``settings``, else ``HARNESS_PREFLIGHT_*``);
    one check per preflight check against ``expect``."""
    report = Preflight(stage, PreflightOptions.resolve(settings, **step.preflight_options())).run(app)
    expected: dict[str, str] = {str(name): verdict for name, verdict in step.expect.items()}
    checks = []
    for result in report.checks:
        wanted = expected.get(result.name)
        ok = result.verdict.value == wanted if wanted else result.verdict in (Verdict.OK, Verdict.SKIP)
        evidence = "\n".join(f.format() for f in result.findings if f.verdict != Verdict.OK) or result.detail
        checks.append(Check(f"preflight {result.name}", ok, wanted or "ok", f"{result.verdict.value}: {result.summary}",
                            "" if ok else evidence))
    return report, checks
