"""Same as `python main.py bench ...` (kept here so benchmarks/ is self-explanatory)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from main import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
