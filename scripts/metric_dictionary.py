"""Write docs/metric-dictionary.md from the metric table (bench.interop.dictionary_page).

    python scripts/metric_dictionary.py          # rewrite the page
    python scripts/metric_dictionary.py --check  # exit 1 when the page is stale
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "metric-dictionary.md"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from bench.interop.dictionary_page import render

    text = render()
    if "--check" in sys.argv:
        if PAGE.read_text() != text:
            print(f"{PAGE} is stale: run python scripts/metric_dictionary.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
