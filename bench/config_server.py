"""The `server:` section of a config: the command, address and timeouts of a server the harness starts itself."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
    # default: vLLM's OpenAI server; placeholders {model} {host} {port} {seed} {python}
    command: list[str] | None = Field(default=None, min_length=1)
    args: list[str] = Field(default_factory=list)   # appended (vLLM CLI flags, e.g. --max-model-len)
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)   # default: a free port
    health_path: str = Field(default="/health", pattern="^/")
    startup_timeout_s: float = Field(default=600.0, gt=0)
    stop_timeout_s: float = Field(default=30.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict)
