"""Q4: docs/architecture.md stays true: every file it names exists, and every ``module.name`` it
cites is defined in that module (a rename that forgets the page fails here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"
SOURCES = [
    p
    for p in ROOT.rglob("*.py")
    if not {".venv", "node_modules", "migrations", "tests"} & set(p.relative_to(ROOT).parts)
]
CODE = re.compile(r"`([^`\s]+)`")
PATH = re.compile(r"^[\w./-]+\.(py|js|html|md|toml)$|^[\w/]+/$")
DOTTED = re.compile(r"^([a-z_]+(?:\.[a-z_]+)*)\.([A-Za-z_]\w*)$")


def _module_files(dotted: str) -> list[Path]:
    """Files that ``dotted`` may name: a full path from the root, or a module by its last name."""
    parts = dotted.split(".")
    full = ROOT.joinpath(*parts)
    candidates = [full.with_suffix(".py"), full / "__init__.py"]
    found = [c for c in candidates if c.exists()]
    return found or [p for p in SOURCES if p.stem == parts[-1]]


def _defines(path: Path, name: str) -> bool:
    text = path.read_text(encoding="utf-8")
    return bool(re.search(rf"^\s*(def|class|async def)\s+{name}\b|^\s*{name}\s*[:=]", text, re.M))


def cited() -> list[str]:
    return sorted(set(CODE.findall(PAGE.read_text(encoding="utf-8"))))


def test_q4_every_file_the_page_names_exists():
    paths = [c for c in cited() if PATH.match(c) and "<" not in c]
    assert len(paths) > 10
    missing = [
        c
        for c in paths
        if not (ROOT / c).exists()
        and not any(p.as_posix().endswith(c.rstrip("/")) for p in ROOT.rglob(c.rstrip("/")))
    ]
    assert missing == []


def test_q4_every_module_name_the_page_cites_is_defined_there():
    checked, missing = 0, []
    for code in cited():
        match = DOTTED.match(code)
        if not match or PATH.match(code):
            continue
        module, name = match.groups()
        files = _module_files(module)
        if not files:
            continue  # a class attribute or a setting, not a module path
        checked += 1
        submodule = any((f.parent / f"{name}.py").exists() for f in files if f.stem == "__init__")
        if not submodule and not any(_defines(f, name) for f in files):
            missing.append(code)
    assert checked > 30
    assert missing == []
