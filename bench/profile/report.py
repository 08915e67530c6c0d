"""The HTML report of a token-usage profile (`bench profile --report`), built from the same
sections and HTML writer as `bench report`."""
from __future__ import annotations

from pathlib import Path

from bench.profile.profile import DISTRIBUTIONS, scalars, table
from bench.analysis.report import Section, _plt, _png, to_html

PROFILE_PLOTS = ("prompt_tokens", "output_tokens", "steps_per_task", "context_growth_tokens", "tool_s",
                 "prompt_tokens_per_task")


def profile_sections(profile) -> list[Section]:
    """A `bench.profile.profile.Profile` as report sections: the table, the scalars, histograms."""
    secs = [Section("Token-usage profile", table(profile)),
            Section("Profile: shape of the traffic", (["quantity", "value"], [list(kv) for kv in scalars(profile)]))]
    names = [n for n in PROFILE_PLOTS if len(profile.values[n])]
    if names:
        plt = _plt()
        fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3.0), squeeze=False)
        for ax, name in zip(axes[0], names):
            ax.hist(profile.values[name], bins=min(30, max(5, len(profile.values[name]) // 3)))
            ax.set_xlabel(f"{name} ({DISTRIBUTIONS[name][0]})", fontsize=8)
            ax.set_ylabel("count", fontsize=8)
        secs[0].images.append(("profile.png", _png(fig)))
    return secs


def write_profile_report(profile, out: str, title: str) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_html(profile_sections(profile), title))
    return path
