"""The normalized call record every log reader produces, and the tally of rows it could not use."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from bench.errors import UserError

Kind = Literal["llm", "tool", "agent"]


@dataclass(frozen=True, slots=True)
class Call:
    task_id: str                        # a trace, session or conversation: one unit of work
    call_id: str
    parent: str | None                  # the agent (sub-agent) call it runs under; None: the task's own loop
    start_s: float                      # seconds on the log's clock
    end_s: float
    kind: Kind
    prompt_tokens: int = 0              # llm calls: input tokens, cached ones included
    cached_tokens: int | None = None    # None when the log does not say
    output_tokens: int = 0
    label: str = ""                     # "compaction" for a context-compaction call (bench's own runs)
    prefix_tokens: int | None = None    # llm: tokens of a prefix shared across tasks, when the log shows it
    resent_tokens: int | None = None    # llm: leading tokens shared with its agent's previous call (hash ids)
    think_s: float | None = None        # llm: the recorded think/tool time before it, when the log has it
    reasoning_tokens: int | None = None  # llm: of output_tokens, the model's thoughts, when the log says

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class Log:
    """What the readers got from a set of files: usable calls and, per reason, what was not used."""
    calls: list[Call] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)     # reason -> rows
    first_skip: dict[str, str] = field(default_factory=dict)  # reason -> first file:line
    rows: int = 0
    files: list[str] = field(default_factory=list)

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self.first_skip.setdefault(reason, where)

    def unreadable(self, err: UserError) -> None:
        """A row that did not parse at all: still a row of the file, skipped for its error."""
        self.rows += 1
        self.skip(err.message, err.where)

    def extend(self, other: Log) -> None:
        self.calls += other.calls
        self.rows += other.rows
        self.files += other.files
        for reason, n in other.skipped.items():
            self.skipped[reason] += n
            self.first_skip.setdefault(reason, other.first_skip[reason])

    def require_calls(self, path: str) -> Log:
        """A file with no usable LLM call is an error naming the file and the main reason."""
        if not any(c.kind == "llm" for c in self.calls):
            if self.skipped:
                reason, n = self.skipped.most_common(1)[0]
                raise UserError(self.first_skip[reason], f"no usable LLM calls in {path} "
                                                         f"({self.rows} rows; {n} skipped: {reason})")
            raise UserError(path, f"no usable LLM calls ({self.rows} rows)")
        return self

    def skipped_lines(self) -> list[str]:
        return [f"{n} row(s) not used: {reason} (first at {self.first_skip[reason]})"
                for reason, n in self.skipped.most_common()]
