"""``harness preflight``: catch before the first request what production finds later (bad config,
unresolvable modules, missing native libraries, undeclared shared dicts, workers and memory vs the
container's limits, lint, blocking calls). See docs/preflight.md."""
from harness.preflight.options import PreflightOptionError, PreflightOptions
from harness.preflight.preflight import Preflight
from harness.preflight.report import CHECKS, CheckResult, Finding, PreflightReport, Verdict

__all__ = ["CHECKS", "CheckResult", "Finding", "Preflight", "PreflightOptionError", "PreflightOptions",
           "PreflightReport", "Verdict"]
