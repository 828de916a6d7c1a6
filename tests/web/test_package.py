"""The pages' templates and static files ship in the wheel: an installed daemon serves them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_every_template_and_static_file(tmp_path: Path) -> None:
    # Built from a copy, so that no build/ directory lands in the working tree.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "monitor", source / "monitor",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir",
         str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")

    shipped = set(zipfile.ZipFile(wheel).namelist())
    web = ROOT / "monitor" / "web"
    wanted = {
        str(path.relative_to(ROOT))
        for folder in ("templates", "static")
        for path in (web / folder).iterdir()
    }
    assert wanted and wanted <= shipped, sorted(wanted - shipped)
