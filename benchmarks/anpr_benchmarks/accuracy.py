"""`anpr bench accuracy`: every model version on every labelled set, side by side.

One evaluation (`anpr models eval`) per (set, version): real photographs (their held-out part only
where the set also trains) and synthetic sets. With `--min-plate-width`, labelled plates narrower than
that count neither way (the real sets label plates a few pixels wide), and the same reads are also
scored with every plate counted (`all_plates`). Writes one JSON with every set's metrics per version,
a PNG of the headline numbers, and for the newest version each set's errors (`--errors`: JSON, a
contact sheet of the worst, character confusions), which are what a person looks through next. With
`--placements front_end triton triton_dali` each version is also scored through a local Triton's
`plate_pipeline` (encoded files in, DALI decode there; `triton_dali`: DALI's letterbox resampling too),
beside the front-end path.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

from anpr.inference.backends import running_backend
from anpr.inference.pipeline import PipelineSettings
from anpr_benchmarks.common import RESULTS, pyplot, save_figure, write_result
from anpr_benchmarks.evaluation.errors import write_errors
from anpr_benchmarks.evaluation.evaluate import evaluate
from anpr_benchmarks.evaluation.metrics import Tally
from anpr_synth.real_sets import HELD_OUT, UnknownSplit, split_of

HEADLINES = ("read_rate", "plate_accuracy", "detection_recall", "detection_precision")


@dataclass(frozen=True)
class LabelledSet:
    name: str
    directory: Path
    split: str | None  # HELD_OUT for a real set that also trains; None: every image


def labelled_set(directory: Path) -> LabelledSet:
    """A set named by its folder; a real set that also trains is scored on its held-out part only
    (validation sets and synthetic sets are held out whole)."""
    image = next(iter(sorted(directory.glob("*.jpg"))), None)
    try:
        trains = image is not None and directory.parent.name != "validation" and bool(split_of(image))
    except UnknownSplit:
        trains = False
    return LabelledSet(directory.name, directory, HELD_OUT if trains else None)


PlateKey = tuple[str, int]  # (image, the label's place in its file)


def paired_difference(a: dict[PlateKey, bool], b: dict[PlateKey, bool]) -> dict[str, float | int]:
    """Two versions on the same plates: how many only `a` reads, how many only `b` reads, and the exact
    two-sided sign-test p-value of that split (McNemar's exact test): the chance of a split at least as
    uneven if neither version were better. Plates either version lacks are left out."""
    common = a.keys() & b.keys()
    only_a = sum(a[key] and not b[key] for key in common)
    only_b = sum(b[key] and not a[key] for key in common)
    n = only_a + only_b
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n if n else 1.0
    return {"plates": len(common), "only_a": only_a, "only_b": only_b, "p_value": min(1.0, 2 * tail)}


def _plates_read(tally: Tally, min_plate_width: float) -> dict[PlateKey, bool]:
    """Each counted plate with text: read (boxed: its matched read is the text; text-only: the text is
    among the frame's reads)."""
    read: dict[PlateKey, bool] = {}
    for frame in tally.scored(min_plate_width):
        for k, plate in enumerate(frame.plates):
            if plate.label.has_text and not plate.ignored:
                read[(frame.image, k)] = bool(plate.exact if plate.exact is not None else plate.read_in_frame)
    return read


async def _score(
    sets: list[LabelledSet],
    settings: PipelineSettings,
    errors: Path | None,
    min_plate_width: float,
    plates_read: dict[str, dict[PlateKey, bool]] | None = None,
) -> dict[str, dict]:
    scores = {}
    kind = "triton" if settings.preprocessing == "triton" else "onnxruntime"
    async with running_backend(kind, settings) as backend:
        for labelled in sets:
            report = await evaluate(
                labelled.directory,
                backend,
                settings,
                progress=True,
                split=labelled.split,
                min_plate_width=min_plate_width,
            )
            scores[labelled.name] = {**report.metrics, "split": labelled.split, "skipped": len(report.skipped)}
            if plates_read is not None:
                plates_read[labelled.name] = _plates_read(report.tally, min_plate_width)
            if min_plate_width > 0:  # the same reads, every labelled plate counted, however small
                everything = report.tally.summary(1.0, min_plate_width=0.0)
                scores[labelled.name]["all_plates"] = {metric: everything[metric] for metric in HEADLINES}
            if errors is not None:
                write_errors(labelled.directory, report.tally, errors / labelled.name)
    return scores


def run(
    directories: list[Path],
    versions: list[int],
    repository: Path,
    out: Path = RESULTS,
    name: str = "accuracy",
    min_plate_width: float = 0.0,
    placements: tuple[str, ...] = ("front_end",),  # front_end, triton, triton_dali
) -> dict:
    """Scores each version (both models) on each set, for each placement of the pre-processing;
    writes NAME.json, NAME.png and NAME_errors/ (the newest version, front-end path)."""
    sets = [labelled_set(directory) for directory in directories]
    results = {}
    read_by: dict[str, dict[str, dict[PlateKey, bool]]] = {}  # version label -> set -> plate -> read
    for version in versions:
        for placement in placements:
            settings = PipelineSettings(
                model_repository=repository,
                detector_version=version,
                recogniser_version=version,
                onnx_threads=2,
                preprocessing="front_end" if placement == "front_end" else "triton",
                triton_resample="dali" if placement == "triton_dali" else "opencv",
            )
            newest = version == max(versions) and placement == placements[0]
            errors = out / f"{name}_errors" if newest else None
            label = f"v{version}" if placement == "front_end" else f"v{version} {placement}"
            read_by[label] = {}
            results[label] = asyncio.run(_score(sets, settings, errors, min_plate_width, read_by[label]))
    labels = list(results)
    paired = {
        f"{older} vs {newer}": {s.name: paired_difference(read_by[older][s.name], read_by[newer][s.name]) for s in sets}
        for older, newer in zip(labels, labels[1:])
    }
    payload = {
        "sets": {s.name: {"path": str(s.directory), "split": s.split} for s in sets},
        "min_plate_width": min_plate_width,
        "placements": list(placements),
        "versions": results,
        "paired": paired,
    }
    write_result(name, payload, out)
    plot(payload, out / f"{name}.png")
    return payload


def plot(payload: dict, path: Path) -> None:
    plt = pyplot()
    sets = list(payload["sets"])
    versions = list(payload["versions"])
    figure, axes = plt.subplots(1, len(HEADLINES), figsize=(4.2 * len(HEADLINES), 4.2), sharey=True)
    width = 0.8 / max(len(versions), 1)
    for ax, metric in zip(axes, HEADLINES):
        for k, version in enumerate(versions):
            values = [payload["versions"][version][s].get(metric) for s in sets]
            positions = [i + (k - (len(versions) - 1) / 2) * width for i in range(len(sets))]
            ax.bar(positions, [v if v is not None else 0 for v in values], width, label=version)
            for x, v in zip(positions, values):
                ax.text(x, (v or 0) + 0.01, "n/a" if v is None else f"{v:.2f}", ha="center", fontsize=7)
        ax.set_xticks(range(len(sets)), sets, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric)
        ax.set_ylim(0, 1.1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    save_figure(figure, path)


def format_table(payload: dict) -> str:
    versions = list(payload["versions"])
    lines = [f"{'set':<18} {'metric':<20} " + " ".join(f"{v:>8}" for v in versions)]
    for labelled in payload["sets"]:
        for metric in (*HEADLINES, "char_accuracy", "plates"):
            values = [payload["versions"][v][labelled].get(metric) for v in versions]
            if all(value is None for value in values):
                continue
            shown = [
                "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
                for value in values
            ]
            lines.append(f"{labelled:<18} {metric:<20} " + " ".join(f"{s:>8}" for s in shown))
    for pair, per_set in payload.get("paired", {}).items():
        older, newer = pair.split(" vs ")
        lines.append(f"paired, {pair}: plates read by one version only (sign test p: < 0.05 is unlikely by chance)")
        for labelled, d in per_set.items():
            lines.append(
                f"  {labelled:<18} {older} only {d['only_a']:>4}   {newer} only {d['only_b']:>4}   "
                f"of {d['plates']:>5}   p = {d['p_value']:.3f}"
            )
    return "\n".join(lines)
