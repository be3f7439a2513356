"""What Test::Nginx does that `harness t` must do too, on the pure parts (issue 24): Perl truth of
skip_eval, check_accum_error_log's window."""
import shutil
import textwrap
from pathlib import Path

import pytest

from harness.tnginx.block import build_block
from harness.tnginx.load import load_tfile, perl_true

needs_perl = pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")


def write_t(tmp_path: Path, body: str, preamble: str = "") -> Path:
    t = tmp_path / "t"
    t.mkdir(exist_ok=True)
    path = t / "x.t"
    path.write_text("use Test::Nginx::Socket::Lua;\n" + preamble + "run_tests();\n__DATA__\n" + textwrap.dedent(body))
    return path


def build(raw, **kwargs):
    return build_block(raw, repeats=2, log_level="debug", workers=1, no_root_location=False, env_to_nginx=[],
                       label="x", **kwargs)


def test_perl_truth_of_what_the_shim_hands_over():
    assert [perl_true(v) for v in (None, "", "0", False)] == [False] * 4
    assert [perl_true(v) for v in ("1", "0.0", "00", " ", "linux", 1, True)] == [True] * 7


@needs_perl
def test_a_skip_eval_that_is_false_in_perl_runs_the_block(tmp_path):
    path = write_t(tmp_path, """
        === TEST 1: false on every OS
        --- config
            location = /t { return 200; }
        --- skip_eval: 1: $^O eq 'no such os'
        === TEST 2: true
        --- config
            location = /t { return 200; }
        --- skip_eval: 1: $^O ne 'no such os'
        """)
    first, second = (build(raw) for raw in load_tfile(path).blocks)
    assert not first.skip_eval and second.skip_eval


@needs_perl
@pytest.mark.parametrize("preamble, env, accum", [
    ("", {}, False),
    ("check_accum_error_log();\n", {}, True),
    ("", {"TEST_NGINX_CHECK_ACCUM_ERR_LOG": "1"}, True),
])
def test_check_accum_error_log_is_read_from_the_preamble_or_the_environment(tmp_path, monkeypatch, preamble, env, accum):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = write_t(tmp_path, """
        === TEST 1: one
        --- config
            location = /t { return 200; }
        """, preamble=preamble)
    tfile = load_tfile(path)
    assert perl_true(tfile.settings.get("check_accum_error_log")) is accum
