"""Write a page that a script generates, or check that the stored copy is up to date."""
from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(page: Path, text: str, check: bool, root: Path) -> None:
    """Write ``text`` to ``page``; with ``check``, exit 1 instead if the stored page differs from it."""
    name = page.relative_to(root)
    if check:
        if not page.exists() or page.read_text() != text:
            sys.exit(f"{name} is out of date: run python scripts/{Path(sys.argv[0]).name}")
        return
    page.write_text(text)
    print(f"wrote {name}")
