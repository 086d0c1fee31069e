"""Memory is checked against the process's own limits (ulimit -v, a
container's memory.max), not only the machine's, and running out ends in one
line: never a numpy MemoryError or torch allocator traceback."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")


def limited(argv: list[str], limit_bytes: int) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, preexec_fn=cap)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (100, 151, 3), dtype=np.uint8)).save(path)
    return path


def test_too_little_memory_to_load_torch_is_one_line(tmp_path: Path, photo: Path) -> None:
    done = limited(["upscale", str(photo), "--method", "bicubic", "-o", str(tmp_path / "o.png")], 300_000_000)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr and "PyTorch" in lines[0]
    assert not (tmp_path / "o.png").exists()


def test_an_export_over_the_process_limit_is_refused_from_the_header(tmp_path: Path, photo: Path) -> None:
    """151 megapixels need about 2.7 GB: under ulimit -v 2.2 GB that is refused
    before any pixel is made (it ended in a numpy MemoryError traceback)."""
    out = tmp_path / "o.png"
    done = limited(["upscale", str(photo), "--method", "bicubic", "--size", "15100x10000", "-o", str(out)],
                   2_200_000_000)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "memory" in lines[0] and "Traceback" not in done.stderr
    assert not out.exists()
