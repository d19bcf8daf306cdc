"""Medians, ratios, growth and the pass/fail lines, from the raw samples.

Every sample is kept; only medians (and, for memory, the maximum) are printed in the
tables, and the raw values on the lines under each table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median

from .tools import Sample

__all__ = ["SCENARIOS", "SizeResult", "growth", "size_label", "size_table", "targets"]

SCENARIOS = {
    "cold": "cold build",
    "edit": "rebuild after edit",
    "add": "rebuild after add",
    "profile": "rebuild after profile edit",     # Newsroom only: the others have no profiles
    "running": "edit, in a running process",     # Newsroom only: newsroom run rebuilding
}
# A running process (the daemon) is judged on time only: it keeps what the next build can
# reuse in memory on purpose, so its memory is listed with its samples, not in the peaks.
_BUILDS_ONLY = ("cold", "edit", "add", "profile")
_TOOL_A, _TOOL_B = "Newsroom", "Pelican"     # ratio = A / B, speed-up = B / A


@dataclass
class SizeResult:
    """All samples of one corpus size: ``samples[tool][scenario]``, in round order."""

    items: int
    samples: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)
    rounds: list[dict] = field(default_factory=list)     # what each round did, for the JSON

    def add(self, tool: str, scenario: str, sample: Sample) -> None:
        self.samples.setdefault(tool, {}).setdefault(scenario, []).append(sample)

    def seconds(self, tool: str, scenario: str) -> float | None:
        runs = self.samples.get(tool, {}).get(scenario)
        return median(s.seconds for s in runs) if runs else None

    def peak_mib(self, tool: str) -> float | None:
        """The largest resident memory of all the build's processes together."""
        runs = self._builds(tool)
        return max(s.tree_kib or s.maxrss_kib for s in runs) / 1024 if runs else None

    def largest_mib(self, tool: str) -> float | None:
        """The largest single process (``ru_maxrss``)."""
        runs = self._builds(tool)
        return max(s.maxrss_kib for s in runs) / 1024 if runs else None

    def _builds(self, tool: str) -> list[Sample]:
        scenarios = self.samples.get(tool, {})
        return [s for scenario in _BUILDS_ONLY for s in scenarios.get(scenario, [])]


def size_label(items: int) -> str:
    """10000 -> '10k', 1500 -> '1500'."""
    return f"{items // 1000}k" if items % 1000 == 0 else str(items)


_ORDER = ("Newsroom", "Pelican", "Hugo")


def _tools(result: SizeResult) -> list[str]:
    return [tool for tool in _ORDER if tool in result.samples] + \
        [tool for tool in result.samples if tool not in _ORDER]


def size_table(result: SizeResult) -> str:
    tools = _tools(result)
    others = [tool for tool in tools if tool != _TOOL_A]
    ratios = [f"{_TOOL_A}/{other}" for other in others] if _TOOL_A in tools else []
    header = f"{'':<40}" + "".join(f"{tool:>11}" for tool in tools)
    header += "".join(f"{r:>18}" for r in ratios)
    lines = [header, "-" * len(header)]
    rows = [(f"{label}, median (s)", lambda tool, sc=scenario: result.seconds(tool, sc), "{:.2f}")
            for scenario, label in SCENARIOS.items()]
    rows.append(("peak memory, all processes, max (MiB)", result.peak_mib, "{:.0f}"))
    rows.append(("peak memory, largest process (MiB)", result.largest_mib, "{:.0f}"))
    for label, value, number in rows:
        values = {tool: value(tool) for tool in tools}
        cells = "".join(f"{_show(values[tool], number):>11}" for tool in tools)
        if ratios:
            cells += "".join(f"{_show(_ratio(values[_TOOL_A], values[other]), '{:.2f}'):>18}"
                             for other in others)
        lines.append(f"{label:<40}{cells}")
    lines.append("")
    lines.append("samples, in round order (seconds; peak RSS of all processes in MiB):")
    for tool, scenarios in result.samples.items():
        for scenario, runs in scenarios.items():
            times = " ".join(f"{s.seconds:.2f}" for s in runs)
            memory = " ".join(f"{_tree_kib(s) / 1024:.0f}" for s in runs)
            lines.append(f"  {tool:<9}{scenario:<8} {times:<28} | {memory}")
    return "\n".join(lines)


def _show(value: float | None, spec: str) -> str:
    return "–" if value is None else spec.format(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _tree_kib(sample: Sample) -> int:
    return sample.tree_kib or sample.maxrss_kib


def growth(small: SizeResult, large: SizeResult, tool: str) -> float | None:
    """Cold build time at the large size divided by that at the small size."""
    a, b = small.seconds(tool, "cold"), large.seconds(tool, "cold")
    return b / a if a and b is not None else None


def targets(results: list[SizeResult]) -> list[str]:
    """The issue's four targets, judged at the largest size: one PASS/FAIL/SKIP line each."""
    large, small = results[-1], results[0]
    a, b = _TOOL_A, _TOOL_B
    lines = []

    cold_a, cold_b = large.seconds(a, "cold"), large.seconds(b, "cold")
    if cold_a and cold_b:
        lines.append(_verdict(cold_b / cold_a >= 5,
                              f"cold build ≥5× faster than Pelican: {cold_b / cold_a:.1f}× "
                              f"(Newsroom {cold_a:.2f} s, Pelican {cold_b:.2f} s)"))
    else:
        lines.append("SKIP  cold build ≥5× faster than Pelican: needs both tools")

    edit_a, edit_b = large.seconds(a, "edit"), large.seconds(b, "edit")
    if edit_a and edit_b:
        lines.append(_verdict(edit_b / edit_a >= 10 and edit_a < 1,
                              f"edit rebuild ≥10× faster than Pelican and < 1 s: {edit_b / edit_a:.1f}×, "
                              f"Newsroom {edit_a:.2f} s (Pelican {edit_b:.2f} s)"))
    else:
        lines.append("SKIP  edit rebuild ≥10× faster than Pelican and < 1 s: needs both tools")

    peak_a, peak_b = large.largest_mib(a), large.largest_mib(b)   # issue 5 judged ru_maxrss
    if peak_a and peak_b:
        lines.append(_verdict(peak_a <= peak_b, f"peak memory (largest process) ≤ Pelican's: Newsroom "
                                                f"{peak_a:.0f} MiB, Pelican {peak_b:.0f} MiB"))
    else:
        lines.append("SKIP  peak memory ≤ Pelican's: needs both tools")

    hugo = "Hugo"
    cold_h, peak_h = large.seconds(hugo, "cold"), large.peak_mib(hugo)
    peak_a = large.peak_mib(a)   # issue 17 judges all processes together
    if cold_a and cold_h:
        lines.append(_verdict(cold_a <= cold_h, f"cold build no slower than Hugo: Newsroom {cold_a:.2f} s, "
                                                f"Hugo {cold_h:.2f} s ({cold_a / cold_h:.2f}×)"))
    else:
        lines.append("SKIP  cold build no slower than Hugo: needs Hugo (apt-get install hugo)")
    if peak_a and peak_h:
        lines.append(_verdict(peak_a <= peak_h / 5,
                              f"peak memory ≤ a fifth of Hugo's: Newsroom {peak_a:.0f} MiB, "
                              f"Hugo {peak_h:.0f} MiB (limit {peak_h / 5:.0f})"))
    else:
        lines.append("SKIP  peak memory ≤ a fifth of Hugo's: needs Hugo")
    if edit_a:
        lines.append(_verdict(edit_a <= 0.3, f"edit rebuild ≤ 0.3 s: {edit_a:.2f} s"))
    running = large.seconds(a, "running")
    if running:
        lines.append(_verdict(running <= 0.3, f"edit rebuild in a running process (newsroom run) ≤ 0.3 s: "
                                              f"{running:.2f} s"))

    # 10k/1k ≤ 11: at most 10 % worse than linear; for other sizes the same 1.1 × size ratio.
    label = f"{size_label(large.items)}/{size_label(small.items)}"
    limit = 1.1 * large.items / small.items
    factor = growth(small, large, a) if large is not small else None
    if factor is not None:
        lines.append(_verdict(factor <= limit, f"Newsroom cold growth {label} ≤ {limit:.3g}: {factor:.2f}"))
    else:
        lines.append("SKIP  Newsroom cold growth (≤ 1.1 × the size ratio): needs two sizes and Newsroom")
    return lines


def _verdict(passed: bool, text: str) -> str:
    return f"{'PASS' if passed else 'FAIL'}  {text}"
