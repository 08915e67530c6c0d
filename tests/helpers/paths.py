"""Where the tests' files are: the repository, the test data beside the tests, and the shared
traces beside the checkout (../shared, absent on some machines: tests that need it skip)."""
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
DATA = TESTS / "data"
SHARED_TRACES = ROOT.parent / "shared" / "traces"
