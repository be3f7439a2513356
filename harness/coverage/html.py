"""The HTML coverage report: a page of our own (``index.html``: per-file percentages, then each file's
source with its lines marked covered, missed or not code, and their counts), and ``genhtml``'s report
(``genhtml/index.html``) beside it where Debian's lcov package is installed."""
from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from harness.coverage.model import CoverageResult, FileCoverage, percent

STYLE = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{padding:2px 8px;text-align:left}th{background:#eee}.num{text-align:right}
pre{margin:0}.src td{font-family:monospace;white-space:pre;padding:0 6px}
tr.hit{background:#dfd}tr.miss{background:#fdd}td.count{color:#666;text-align:right}
.bar{display:inline-block;height:.8em;background:#6c6}.barbg{display:inline-block;width:100px;background:#e66}"""


def anchor(index: int) -> str:
    return f"f{index}"


def file_rows(f: FileCoverage) -> str:
    rows = []
    for number, text in enumerate(f.text.splitlines(), start=1):
        if number in f.executable:
            count = f.counts.get(number, 0)
            kind, shown = ("hit", str(count)) if count else ("miss", "0")
        else:
            kind, shown = "none", ""
        rows.append(f'<tr class="{kind}" id="L{number}"><td class="count">{shown}</td><td class="count">{number}</td>'
                    f'<td>{html.escape(text)}</td></tr>')
    return "\n".join(rows)


def page(result: CoverageResult) -> str:
    files = sorted(result.files, key=lambda f: f.path)
    summary = []
    for i, f in enumerate(files):
        share = percent(f.hit, f.found)
        summary.append(f'<tr class="file"><td><a href="#{anchor(i)}">{html.escape(f.path)}</a></td>'
                       f'<td class="num pct">{share:.1f}%</td><td class="num">{f.hit}</td><td class="num">{f.found}</td>'
                       f'<td><span class="barbg"><span class="bar" style="width:{share:.0f}px"></span></span></td>'
                       f'<td>{html.escape(f.error)}</td></tr>')
    sections = [f'<h2 id="{anchor(i)}">{html.escape(f.path)} <small>{percent(f.hit, f.found):.1f}%</small></h2>'
                f'<table class="src">{file_rows(f)}</table>' for i, f in enumerate(files)]
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Lua line coverage</title>"
            f"<style>{STYLE}</style></head><body><h1>Lua line coverage</h1>"
            f'<p id="total">{html.escape(result.summary())}</p>'
            f'<table id="files"><tr><th>file</th><th>lines covered</th><th>hit</th><th>code lines</th><th></th>'
            f"<th></th></tr>{''.join(summary)}</table>{''.join(sections)}</body></html>\n")


def write_html(result: CoverageResult, directory: Path, lcov_file: Optional[Path] = None) -> list[Path]:
    """Write ``index.html`` (and genhtml's report from ``lcov_file`` where genhtml exists); return them."""
    directory.mkdir(parents=True, exist_ok=True)
    ours = directory / "index.html"
    ours.write_text(page(result))
    written = [ours]
    genhtml = shutil.which("genhtml")
    if genhtml and lcov_file is not None and result.files:
        out = directory / "genhtml"
        done = subprocess.run([genhtml, "--quiet", "--output-directory", str(out), str(lcov_file)],
                              capture_output=True, text=True, timeout=120)
        if done.returncode == 0:
            written.append(out / "index.html")
    return written
