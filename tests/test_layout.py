"""The layout the design depends on: two packages, imports in one direction, no cycles, a
self-contained repository.

The import graph is read from the source (every ``import`` statement, also inside functions);
each module is also imported with no other module of the packages loaded, so an import that
works only after another module has been loaded fails here.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("implicit", "replication")
#: what the engine must never import: the experiment package and plotting libraries
ENGINE_FORBIDDEN = ("replication", "seaborn", "matplotlib", "pandas.plotting", "snakemake")


def modules():
    """{dotted name: path} of every module of both packages."""
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for pkg in PACKAGES for p in sorted((ROOT / pkg).glob("*.py"))}


def imports(name: str, path: Path) -> set[str]:
    """The absolute names of the modules ``path`` imports, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            if node.module:  # `from .x import y`: module x (and y, if y is a module)
                out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def graph():
    mods = modules()
    return {name: {i for i in imports(name, path) if i in mods and i != name} for name, path in mods.items()}


def test_engine_never_imports_the_experiment_code():
    for name, path in modules().items():
        if name.startswith("implicit"):
            bad = {i for i in imports(name, path) if i.startswith(ENGINE_FORBIDDEN)}
            assert not bad, f"{name} imports {sorted(bad)}"


def find_cycle(g: dict) -> list[str] | None:
    """One cycle of the directed graph ``g`` (node → set of nodes) as a path, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(g[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt, stack + [nxt])):
                return cycle
        state[node] = "done"
        return None

    for node in sorted(g):
        if node not in state and (cycle := visit(node, [node])):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_cycle_check_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


#: imports each module with none of the two packages loaded before it (third-party modules
#: stay loaded, which keeps this fast); prints the modules that fail
ALONE = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("implicit", "replication")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name)
        traceback.print_exc()
print("FAILED", failed)
"""


def test_every_module_imports_alone():
    proc = subprocess.run([sys.executable, "-c", ALONE, *sorted(modules())], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "FAILED []" in proc.stdout, proc.stdout + proc.stderr[-3000:]


def code_files():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in tracked if f.endswith((".py", ".smk")) or Path(f).name == "Snakefile"]


def test_no_sys_path_manipulation():
    offenders = [str(p.relative_to(ROOT)) for p in code_files()
                 if p.name != "test_layout.py" and re.search(r"sys\.path", p.read_text())]
    assert not offenders


#: the name of the specification document the project started from, kept outside the
#: repository; docs/ states the model and the claims instead (spelled here so that this file,
#: too, does not name it)
OUTSIDE_DOCUMENT = re.compile(r"\b" + "spec".upper() + r"\b")


def test_repository_is_self_contained():
    """No reference to the specification document outside the repository (docs/ replaces it)."""
    tracked = subprocess.run(["git", "ls-files", *PACKAGES, "workflow", "tests", "docs", "README.md"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    offenders = [f for f in tracked if OUTSIDE_DOCUMENT.search((ROOT / f).read_text(errors="replace"))]
    assert not offenders
