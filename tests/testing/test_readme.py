"""The README's fakeqemu.testing examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def section_code(title: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def test_testing_example_runs() -> None:
    (code,) = section_code("In your tests: fakeqemu.testing")
    exec(compile(code, "README.md", "exec"), {})
