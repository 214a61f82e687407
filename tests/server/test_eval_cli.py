"""`anpr models eval` and `anpr models synth` end to end, with the shipped ONNX models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from anpr.cli import main

METRIC_KEYS = {
    "read_rate",
    "detection_recall",
    "detection_precision",
    "plate_accuracy",
    "char_accuracy",
    "frames",
    "frames_per_second",
}


def test_eval_reads_the_plates_of_a_fresh_synthetic_set(tiny_labelled_set: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eval.json"
    assert main(["models", "eval", str(tiny_labelled_set), "--json", str(out), "--quiet"]) == 0
    metrics = json.loads(out.read_text())
    assert METRIC_KEYS <= metrics.keys()
    assert metrics["frames"] == 12 and metrics["skipped"] == []
    # The shipped models, on frames they never saw: most plates found and read exactly.
    assert metrics["detection_recall"] >= 0.9
    assert metrics["plate_accuracy"] >= 0.8
    assert metrics["char_accuracy"] >= metrics["plate_accuracy"]
    printed = capsys.readouterr().out
    assert "detection_recall" in printed and "plate_accuracy" in printed


@pytest.fixture()
def damaged_set(tiny_labelled_set: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "damaged"
    shutil.copytree(tiny_labelled_set, directory)
    names = sorted(p.stem for p in directory.glob("*.jpg"))
    (directory / f"{names[0]}.txt").unlink()  # missing label file
    (directory / f"{names[1]}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")  # unreadable image
    (directory / f"{names[2]}.txt").write_text("only\tthree\tfields\n")  # malformed line
    return directory


def test_eval_skips_bad_files_naming_each_and_scores_the_rest(damaged_set: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eval.json"
    assert main(["models", "eval", str(damaged_set), "--json", str(out), "--quiet"]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["frames"] == 9
    names = sorted(p.stem for p in damaged_set.glob("*.jpg"))
    skipped = "\n".join(metrics["skipped"])
    assert f"{names[0]}.jpg: no label file" in skipped
    assert f"{names[1]}.jpg: not a readable image" in skipped
    assert f"{names[2]}.txt:1: expected 6 tab-separated fields" in skipped
    assert "Traceback" not in capsys.readouterr().err


def test_eval_of_a_missing_folder_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["models", "eval", str(tmp_path / "nope"), "--quiet"]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_eval_with_missing_models_is_a_clear_error(tiny_labelled_set: Path, tmp_path: Path, capsys) -> None:
    assert main(["models", "eval", str(tiny_labelled_set), "--model-repository", str(tmp_path), "--quiet"]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_synth_writes_the_labelled_set_format(tmp_path: Path) -> None:
    assert main(["models", "synth", str(tmp_path), "--count", "3", "--seed", "8"]) == 0
    images = sorted(tmp_path.glob("*.jpg"))
    assert len(images) == 3
    for image in images:
        for line in image.with_suffix(".txt").read_text().splitlines():
            name, x, y, w, h, plate = line.split("\t")
            assert name == image.name and int(w) > 0 and int(h) > 0 and plate.isalnum()


def test_eval_in_half_precision_scores_the_set_with_float16_models(tiny_labelled_set: Path, tmp_path: Path) -> None:
    """`--fp16`: both models converted to float16 (as FP16 TensorRT plans store them), same metrics."""
    pytest.importorskip("onnx")  # the `train` extra; the conversion needs it
    full, half = tmp_path / "fp32.json", tmp_path / "fp16.json"
    assert main(["models", "eval", str(tiny_labelled_set), "--json", str(full), "--quiet"]) == 0
    assert main(["models", "eval", str(tiny_labelled_set), "--json", str(half), "--quiet", "--fp16"]) == 0
    fp32, fp16 = json.loads(full.read_text()), json.loads(half.read_text())
    assert fp16["plates"] == fp32["plates"] and fp16["frames"] == fp32["frames"]
    assert abs(fp16["plate_accuracy"] - fp32["plate_accuracy"]) <= 0.2  # close, not necessarily equal
    assert fp16["char_accuracy"] > 0.8


def test_eval_scores_real_style_labels_and_writes_the_errors(tiny_labelled_set: Path, tmp_path: Path, capsys) -> None:
    """Labels as the real sets have them: text without a box (read when among the frame's reads), a box
    without text (detection only), a hidden character (matches anything)."""
    from anpr_synth.labelled_set import format_label_line, parse_label_file

    real_style = tmp_path / "real_style"
    real_style.mkdir()
    for k, image in enumerate(sorted(tiny_labelled_set.glob("*.jpg"))):
        plates = parse_label_file(image.with_suffix(".txt"), image.name)
        if not plates:
            continue
        shutil.copy(image, real_style / image.name)
        lines = []
        for plate in plates:
            x1, y1, x2, y2 = (int(v) for v in plate.box)
            if k % 3 == 0:
                lines.append(format_label_line(image.name, None, plate.text))  # text only
            elif k % 3 == 1:
                lines.append(format_label_line(image.name, (x1, y1, x2 - x1, y2 - y1), ""))  # box only
            else:
                hidden = "?" + plate.text[1:]
                lines.append(format_label_line(image.name, (x1, y1, x2 - x1, y2 - y1), hidden))
        (real_style / image.name).with_suffix(".txt").write_text("\n".join(lines) + "\n")
    out, errors = tmp_path / "eval.json", tmp_path / "errors"
    args = ["models", "eval", str(real_style), "--json", str(out), "--errors", str(errors), "--quiet"]
    assert main(args) == 0
    metrics = json.loads(out.read_text())
    assert metrics["plates_with_text"] < metrics["plates"]  # the box-only labels count for detection only
    assert metrics["plates_with_box"] < metrics["plates"]  # the text-only ones cannot be matched by box
    assert metrics["read_rate"] >= 0.8 and metrics["detection_recall"] >= 0.9
    written = json.loads((errors / "errors.json").read_text())
    assert {e["kind"] for e in written["errors"]} <= {"missed", "misread", "false_positive"}
    assert (errors / "worst_errors.png").stat().st_size > 1_000
    assert (errors / "confusions.csv").read_text().startswith("truth,read,count")
    assert "read_rate" in capsys.readouterr().out
