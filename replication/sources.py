"""Which source files a job's result depends on, and their hash.

The rules pass these hashes as params, so that Snakemake reruns a job when the code it runs
changes (by content, not modification time).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path


def local_imports(*roots) -> list[Path]:
    """``roots`` plus every module of their package they import, transitively (relative
    imports ``from .x import ...`` / ``from . import x``), found by parsing, not importing."""
    import ast

    seen, todo = set(), [Path(r) for r in roots]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                todo += [path.parent / f"{n.split('.')[0]}.py" for n in names]
    return sorted(seen)


def source_hash(paths) -> str:
    """SHA-256 (16 hex digits) over the names and contents of ``paths`` (sorted)."""
    h = hashlib.sha256()
    for p in sorted(map(Path, paths)):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]
