"""The README's Python API example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_api_example_runs():
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    trace = namespace["trace"]
    assert trace.attrs["status"] == "completed"
    assert trace["train_loss"].iloc[-1] < 1e-2 * trace["train_loss"].iloc[0]
