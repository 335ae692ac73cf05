"""Q3: the layers of docs/architecture.md are import contracts that `make lint` enforces."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = [
    "config",
    "core",
    "workspace",
    "contacts",
    "inbox",
    "integrations",
    "api",
    "demo",
    "salesforce_emulator",
    "salesforce_pubsub",
]

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _copy_sources(target: Path) -> None:
    """The packages' Python files and the contracts: what import-linter reads (never runs)."""
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            copy = target / source.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy)


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        # Only the copied tree is importable: the project's own checkout must not answer.
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
    )


def test_q3_the_project_keeps_its_import_contracts():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "backward_import", "contract"),
    [
        ("workspace/models.py", "import inbox.models", "Product layers"),
        ("core/cache.py", "from workspace.models import Workspace", "Product layers"),
        ("inbox/actions.py", "from api.webhooks import enqueue_reply", "Product layers"),
        (
            "api/keys.py",
            "from integrations.salesforce.models import SalesforceConnection",
            "Product layers",
        ),
        ("salesforce_emulator/state.py", "import core.hosts", "emulator imports nothing"),
        ("integrations/salesforce/client.py", "import salesforce_emulator", "only over HTTP"),
    ],
)
def test_q3_a_new_backward_import_breaks_the_build(tmp_path, module, backward_import, contract):
    _copy_sources(tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{backward_import}  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert len(broken) == 1 and contract in broken[0], result.stdout
