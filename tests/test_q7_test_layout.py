"""Q7: test helpers flow down the folder tree. A module may use the conftest of its own folder or
of a folder above it, never a sibling's or a subfolder's (the root conftest importing a nested
one tied every test to one integration's folder); shared helpers live in plain modules
(tests/salesforce_support.py, salesforce_emulator/demo_names.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from salesforce_emulator import demo_names

TESTS = Path(__file__).resolve().parent
DEMO_NAMES = {name for name in vars(demo_names) if name.isupper()}


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


def test_q7_demo_names_come_from_their_one_module():
    """No conftest or helper re-exports or renames a demo name (ACME_ORG_ID was in five places):
    tests import them from salesforce_emulator/demo_names.py."""
    offenders = []
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            aliased = (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id == "demo_names"
            )
            borrowed = (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").split(".")[-1] == "conftest"
                and any(alias.name in DEMO_NAMES for alias in node.names)
            )
            if aliased or borrowed:
                offenders.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert {"ACME_ORG_ID", "ACME_ADMIN"} <= DEMO_NAMES
    assert offenders == []
