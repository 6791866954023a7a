"""The package layers (pyproject.toml, [tool.importlinter]) hold, and would catch a break."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "server",
    "handlers",
    "replicas",
    "media_relay",
    "blocks",
    "storage",
    "tavus",
    "slack_access",
    "net",
)
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the bot's packages and contracts, to break on purpose."""
    for package in (*PACKAGES, "domain", "settings"):
        shutil.copytree(ROOT / package, tmp_path / package)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_layers_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "storage/outbox.py",
            "import replicas.workflow",
            "storage is not allowed to import replicas",
        ),
        ("blocks/messages.py", "import storage.outbox", "blocks is not allowed to import storage"),
        ("domain/record.py", "import settings", "domain.record -> settings"),
        ("settings/__init__.py", "import domain.request", "settings -> domain.request"),
        (
            "handlers/health.py",
            "import server.readiness",
            "handlers is not allowed to import server",
        ),
    ],
    ids=["upward", "between-siblings", "domain", "settings", "door-to-root"],
)
def test_an_import_that_breaks_a_layer_fails_with_a_clear_message(
    tree: Path, module: str, line: str, broken: str
) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "BROKEN" in result.stdout and broken in result.stdout, result.stdout
