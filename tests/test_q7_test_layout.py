"""Q7: test helpers flow down the folder tree. A module may use the conftest of its own folder or
of a folder above it, never a sibling's or a subfolder's (the root conftest importing a nested
one tied every test to one integration's folder); shared helpers live in plain modules
(tests/salesforce_support.py, salesforce_emulator/demo_names.py)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Known and left for now: the by-hand re-recording script borrows the emulator tests' token flow
# (it moves with those helpers once the emulator's current changes have landed).
KNOWN = {("integrations/salesforce/recorded_answers.py", "tests.emulator.conftest")}


def _imported_modules(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
    return found


def _conftest_folder(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != "tests" or parts[-1] != "conftest":
        return None
    return TESTS.joinpath(*parts[1:-1])


def test_q7_conftest_imports_only_go_up_the_tree():
    offenders = [
        f"{path.relative_to(TESTS)}:{line} imports {module}"
        for path in TESTS.rglob("*.py")
        for module, line in _imported_modules(path)
        if (folder := _conftest_folder(module)) is not None
        and folder not in (path.parent, *path.parent.parents)
        and (str(path.relative_to(TESTS)), module) not in KNOWN
    ]
    assert offenders == []


def test_q7_the_root_conftest_imports_no_nested_conftest():
    imported = {module for module, _ in _imported_modules(TESTS / "conftest.py")}
    assert {m for m in imported if m.endswith(".conftest")} == set()
    assert "tests.salesforce_support" in imported  # its Salesforce helpers: a plain module


def test_q7_the_rule_sees_a_sideways_import(tmp_path):
    assert _conftest_folder("tests.integrations.salesforce.conftest") == (
        TESTS / "integrations" / "salesforce"
    )
    hardening = TESTS / "hardening" / "test_x.py"
    folder = _conftest_folder("tests.integrations.salesforce.conftest")
    assert folder not in (hardening.parent, *hardening.parent.parents)
    assert _conftest_folder("tests.conftest") in (hardening.parent, *hardening.parent.parents)
