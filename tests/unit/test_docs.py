"""The configuration docs are generated from the settings table and must not drift."""
from pathlib import Path

from harness.faults.registry import fault_markdown
from harness.configuration import options_markdown

REPO = Path(__file__).resolve().parents[2]


def test_configuration_table_is_current_in_readme_and_docs():
    table = options_markdown()
    assert table in (REPO / "docs" / "configuration.md").read_text()
    assert table.rstrip("\n") in (REPO / "README.md").read_text()


def test_fault_table_is_current():
    assert fault_markdown() in (REPO / "docs" / "faults.md").read_text(), "regenerate: .venv/bin/harness faults"
