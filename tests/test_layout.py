"""tools/ shows the architecture: one package per concern, each saying in its docstring what it may import, and
every import (also the ones inside functions) keeping to it; the Pulumi program and the policy pack import nothing
from tools/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
# The concerns the issue names, written out here: each must be a package of tools/.
CONCERNS = {"plan", "pods", "doctor", "engines", "dev"}
RULE = re.compile(r"Within tools/ it may import: (.*?)\.(?:\s|$)")  # up to the sentence's end


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (lazy imports in functions count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def concern(module: str) -> str | None:
    """`tools.plan.render` -> `plan`, `tools.console` -> `console`; None outside tools."""
    parts = module.split(".")
    return parts[1] if parts[0] == "tools" and len(parts) > 1 else None


def allowed(package: str) -> set[str]:
    doc = ast.get_docstring(ast.parse((TOOLS / package / "__init__.py").read_text(encoding="utf-8"))) or ""
    match = RULE.search(" ".join(doc.split()))
    assert match, f"tools/{package}/__init__.py: its docstring says nothing of what it may import"
    return {concern(name) for name in re.findall(r"tools\.\w+", match.group(1))}


def packages() -> list[str]:
    return sorted(p.name for p in TOOLS.iterdir() if (p / "__init__.py").is_file())


def test_every_concern_is_a_package_with_its_rule() -> None:
    assert set(packages()) >= CONCERNS
    for package in packages():
        assert package not in allowed(package)


def test_no_package_imports_what_its_docstring_does_not_allow() -> None:
    wrong = []
    for package in packages():
        may = allowed(package) | {package}
        for path in sorted((TOOLS / package).rglob("*.py")):
            for module in imports(path):
                if concern(module) is not None and concern(module) not in may:
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_the_allowed_imports_have_no_cycle() -> None:
    """A lower concern never imports a higher one: the allowed imports order the packages."""
    graph = {p: allowed(p) & set(packages()) for p in packages()}
    order: list[str] = []
    while graph:
        ready = sorted(p for p, needs in graph.items() if needs <= set(order))
        assert ready, f"cycle among {sorted(graph)}"
        order += ready
        graph = {p: needs for p, needs in graph.items() if p not in ready}


def test_shared_modules_stay_at_their_level() -> None:
    """tools/console.py imports no tools module; the old entry points import only what they stand for."""
    assert {m for m in imports(TOOLS / "console.py") if concern(m)} == set()
    for shim, target in {"rehearse": "tools.plan.rehearse", "history_server": "tools.doctor.history_server",
                         "local_run": "tools.dev.local_run"}.items():
        assert {m for m in imports(TOOLS / f"{shim}.py") if concern(m)} == {target, f"{target}.main"}


def test_the_program_and_the_policy_pack_never_import_tools() -> None:
    files = [ROOT / "__main__.py", *(ROOT / "infra").rglob("*.py"), *(ROOT / "policy").rglob("*.py"),
             *(ROOT / "jobs").rglob("*.py")]
    wrong = [f"{path.relative_to(ROOT)} imports {m}" for path in files if ".venv" not in path.parts
             for m in imports(path) if m.split(".")[0] == "tools"]
    assert len(files) > 20 and wrong == []
