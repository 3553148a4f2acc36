"""The Windows workflow (.github/workflows/windows.yml), linted here; it runs on a hosted runner.

``check-jsonschema`` validates it against the GitHub workflow schema it ships
(``vendor.github-workflows``, offline: no download at test time). actionlint would check
more (expressions, action inputs) but its PyPI package downloads the binary when it is
built, which this machine cannot. What the workflow proves on Windows: docs/testing.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "windows.yml"


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert tool, "check-jsonschema is missing: pip install -e '.[test]'"
    return subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", "--color", "never", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_workflow_matches_githubs_schema() -> None:
    done = lint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_lint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    for wrong in (
        text.replace("runs-on: windows-latest", "run-on: windows-latest"),
        text.replace("timeout-minutes: 60", "timeout-minutes: soon"),
        text.replace("      - uses: actions/checkout@v4", "      - use: actions/checkout@v4"),
    ):
        assert wrong != text
        broken = tmp_path / "windows.yml"
        broken.write_text(wrong, encoding="utf-8")
        done = lint(broken)
        assert done.returncode == 1, wrong
        assert "Schema validation errors" in done.stdout + done.stderr


def test_the_workflow_does_what_docs_testing_says() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "runs-on: windows-latest" in text
    assert "-c constraints.txt" in text  # the locked versions
    assert "tests/windows" in text
    assert "pyinstaller --noconfirm installers/windows/silent-alarm-agent.spec" in text
    assert "wix build" in text
    assert "ENROLLCODE=" in text
    assert "/qn" in text
    assert "the enrolment code is in the MSI log" in text
    assert "icacls" in text
    assert "CurrentVersion\\Run" in text
    assert "uses: actions/upload-artifact@v4" in text
