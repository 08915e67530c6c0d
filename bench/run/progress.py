"""What the run stage reports while it goes. The run stage prints nothing itself: the CLI plugs a
display in (bench.run.display); this base reports nothing, for library use and tests."""
from __future__ import annotations

from bench.types import Sample


class Progress:
    def start(self, label: str, total: int | None) -> None: ...
    def advance(self, sample: Sample) -> None: ...
    def stop(self) -> None: ...

    def note(self, text: str) -> None:
        """A message for the user (what was chosen, what was not measured and why)."""
