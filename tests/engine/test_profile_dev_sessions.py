"""`bench profile` of the 240 recorded coding-agent sessions reproduces the statistics quoted in
../shared/traces/README.md and issue 15, within their rounding (reads every session: slow)."""
import tarfile

import pytest

from bench.profile.command import read_logs
from bench.profile.profile import build
from tests.helpers.paths import SHARED_TRACES
from tests.unit.test_profile_sessions import q

DEV = SHARED_TRACES / "agentic" / "cc_traces_dev.tar.xz"


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    if not DEV.exists():
        pytest.skip("the 240 recorded dev sessions (../shared/traces/agentic beside the checkout) "
                    "are not on this machine")
    d = tmp_path_factory.mktemp("cc")
    with tarfile.open(DEV) as tar:
        tar.extractall(d, filter="data")
    return build(read_logs([str(d / "traces")]))


# reads all 240 recorded sessions (slow, not an engine)
def test_dev_sessions_statistics_as_published(dev):
    assert dev.tasks == 240 and len(dev.values["step_prompt_tokens"]) == 15_442
    steps = q(dev, "steps_per_task")                       # calls per session (its own loop)
    assert round(steps["p50"]) == 41 and round(steps["p90"]) == 151
    prompt = q(dev, "step_prompt_tokens")
    assert round(prompt["p50"] / 1000) == 104 and round(prompt["p90"] / 1000) == 213
    out = q(dev, "output_tokens")
    assert round(out["p50"]) == 216 and round(out["p90"]) == 869
    new = q(dev, "new_context_tokens")                     # prompt(k+1) - prompt(k) - output(k)
    assert round(new["p50"]) == 295 and round(new["p90"], -1) == 2950
    assert round(dev.repeated_prefix_share, 2) == 0.96
    think = q(dev, "think_s")
    assert round(think["p50"]) == 10 and round(think["p90"]) == 136
    assert dev.tasks_with_subagents == 9 and len(dev.values["subagent_steps"]) == 31
