"""Standard output that cannot be written (a full device, a closed pipe, an
encoding that cannot show a name) gives one line on stderr and the right exit
code, never a traceback; what was written to files stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def main_py(*argv: str, stdout: int | None = subprocess.PIPE, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, **(env or {})}, timeout=120, cwd=ROOT)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (8, 9, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_standard_output_is_one_line_and_the_file_stays(photo: Path, tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        listed = main_py("methods", stdout=full.fileno())
        out = tmp_path / "big.png"
        upscaled = main_py("upscale", str(photo), "--method", "bicubic", "--scale", "2", "-o", str(out),
                           stdout=full.fileno())
    for result in (listed, upscaled):
        assert result.returncode == 1 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot write to standard output" in lines[0]
    assert Image.open(out).size == (18, 16)


def test_a_name_the_output_encoding_cannot_show_is_printed_escaped(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "gro\u00dfe-\u732b.png"
    result = main_py("upscale", str(photo), "--method", "bicubic", "--scale", "2", "-o", str(out),
                     env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "\\xdf" in result.stdout and out.exists()

