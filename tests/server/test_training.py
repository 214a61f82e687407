"""Training: export parity and the uint8 contract, trainer smoke runs, resuming, fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")  # the `train` extra; `make test` installs it

from anpr.inference.onnxruntime_models import ModelFileError, OnnxRuntimeModels  # noqa: E402
from anpr.vision.crop import crop_plate  # noqa: E402
from anpr_training.checkpoints import load_weights  # noqa: E402
from anpr_training.export import export_detector, export_recogniser, parity  # noqa: E402
from anpr_training.models import (  # noqa: E402
    DETECTOR_INPUT_SHAPE,
    DetectorForExport,
    PlateDetector,
    PlateRecogniser,
    count_macs,
)
from anpr_training.trainer import RECIPES, TrainingRun, train  # noqa: E402


def test_models_fit_their_compute_budgets() -> None:
    """Budgets: 1.5 GFLOPs a frame for the detector, 0.3 a plate for the recogniser (as trained)."""
    assert 2 * count_macs(PlateDetector(), DETECTOR_INPUT_SHAPE) <= 1.5e9
    width = RECIPES["recogniser"].get("width", 1.0)
    assert 2 * count_macs(PlateRecogniser(width), (1, 32, 128)) <= 0.3e9


def test_a_checkpoint_keeps_the_recognisers_width_and_export_rebuilds_it(tmp_path: Path) -> None:
    from anpr.cli import main

    recipe = dict(steps=1, batch_size=2, learning_rate=1e-3, samples=4, width=0.5)
    train(TrainingRun("recogniser", tmp_path, **recipe))
    exported = tmp_path / "rec.onnx"
    assert main(["models", "export", "recogniser", "--run-dir", str(tmp_path), "--output", str(exported)]) == 0
    weights = {i.name: tuple(i.dims) for i in onnx.load(str(exported)).graph.initializer}
    assert weights["recogniser.classifier.weight"] == (37, 64, 1)  # 128 channels at width 0.5


def _randomised(model: torch.nn.Module, affine: bool = False) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics (and scales and shifts, with `affine`), so parity covers the
    folded normalisation and widening must copy them to be exact; in eval mode."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            if affine:
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_onnx_export_matches_pytorch(tmp_path: Path) -> None:
    from anpr.vision.letterbox import letterbox
    from anpr_synth import generate_frame

    detector = _randomised(PlateDetector())
    assert export_detector(detector, tmp_path / "det.onnx") < 1e-2  # boxes are in pixels (hundreds)
    frame, _ = letterbox(generate_frame(1, 0).image, (384, 640))
    real = torch.from_numpy(frame)[None, None]
    assert parity(DetectorForExport(detector), tmp_path / "det.onnx", real) < 1e-2
    assert export_recogniser(_randomised(PlateRecogniser()), tmp_path / "rec.onnx") < 1e-4


def test_exported_models_take_uint8_pixels_and_cast_them_first(tmp_path: Path) -> None:
    """TensorRT takes a uint8 input only when it feeds a Cast directly; every runtime gets uint8."""
    export_recogniser(PlateRecogniser().eval(), tmp_path / "rec.onnx")
    graph = onnx.load(str(tmp_path / "rec.onnx")).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    consumers = [node for node in graph.node if graph.input[0].name in node.input]
    assert [node.op_type for node in consumers] == ["Cast"]
    with pytest.raises(ModelFileError, match="not uint8 pixels"):  # an older float32 export is refused
        float_model = onnx.load(str(tmp_path / "rec.onnx"))
        float_model.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
        onnx.save(float_model, str(tmp_path / "float.onnx"))
        OnnxRuntimeModels(tmp_path / "float.onnx", tmp_path / "rec.onnx")


@pytest.mark.parametrize("model", ["detector", "recogniser"])
def test_trainer_smoke_run_then_resume(model: str, tmp_path: Path) -> None:
    recipe = dict(steps=2, batch_size=2, learning_rate=1e-3, samples=4, checkpoint_every=1)
    train(TrainingRun(model, tmp_path, stop_after=1, **recipe))  # as if interrupted after one step
    first = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert first["step"] == 1
    train(TrainingRun(model, tmp_path, **recipe))
    second = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert second["step"] == 2
    changed = [not torch.equal(first["model"][k], second["model"][k]) for k in first["model"]]
    assert any(changed)


def test_only_the_recogniser_trains_on_a_gpu(tmp_path: Path) -> None:
    recipe = dict(steps=1, batch_size=1, learning_rate=1e-3, samples=1)
    with pytest.raises(ValueError, match="CPU-only"):
        train(TrainingRun("detector", tmp_path, device="cuda", **recipe))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (passed on the lent H100, 2026-11-27)")
def test_recogniser_trains_on_a_gpu_and_returns_a_cpu_model(tmp_path: Path) -> None:
    recipe = dict(steps=3, batch_size=4, learning_rate=1e-3, samples=8, checkpoint_every=1)
    model = train(TrainingRun("recogniser", tmp_path, device="cuda", **recipe))
    assert next(model.parameters()).device.type == "cpu"  # ready to export
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 3


def test_train_cli_stops_early_without_exporting_then_fine_tunes(tmp_path: Path, capsys) -> None:
    from anpr.cli import main

    base = ["models", "train", "recogniser", "--steps", "2", "--batch-size", "2", "--samples", "4", "--threads", "1"]
    first = tmp_path / "first"
    assert main([*base, "--run-dir", str(first), "--stop-after", "1", "--output", str(tmp_path / "a.onnx")]) == 0
    assert "run the same command again to resume" in capsys.readouterr().out
    assert not (tmp_path / "a.onnx").exists()
    recipe = json.loads((first / "run.json").read_text())  # what the model card quotes
    assert (recipe["model"], recipe["steps"], recipe["batch_size"], recipe["stop_after"]) == ("recogniser", 2, 2, 1)
    tuned = tmp_path / "tuned"
    args = [
        *base,
        "--run-dir",
        str(tuned),
        "--init-from",
        str(first / "checkpoint.pt"),
        "--output",
        str(tmp_path / "b.onnx"),
    ]
    assert main(args) == 0
    assert (tmp_path / "b.onnx").exists() and "exported recogniser" in capsys.readouterr().out


def test_fine_tuning_keeps_matching_weights_and_reports_a_new_head(tmp_path: Path) -> None:
    source = PlateRecogniser()
    source.classifier = torch.nn.Conv1d(128, 5, 1)  # a different head: five classes
    torch.save({"model": source.state_dict()}, tmp_path / "checkpoint.pt")
    target = PlateRecogniser()
    fresh = load_weights(tmp_path / "checkpoint.pt", target)
    assert fresh == ["classifier.bias", "classifier.weight"]
    assert torch.equal(target.features[0][0].weight, source.features[0][0].weight)
    assert torch.equal(target.sequence[0].weight, source.sequence[0].weight)
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "missing.pt", target)


def test_half_precision_models_run_in_float16_close_to_float32(model_repository: Path) -> None:
    from anpr.contract import RECOGNISER
    from anpr.inference.onnxruntime_models import open_model

    path = model_repository / "plate_recogniser/1/model.onnx"
    crops = np.random.default_rng(0).integers(0, 256, (4, 1, 32, 128), dtype=np.uint8)
    full = open_model(path, RECOGNISER).run(None, {"crops": crops})[0]
    half = open_model(path, RECOGNISER, fp16=True).run(None, {"crops": crops})[0]
    assert half.dtype == np.float32  # inputs and outputs keep their types
    assert 0 < np.abs(half - full).max() < 0.05  # float16 inside: not identical, but close


def test_a_widened_recogniser_computes_what_the_narrow_one_did() -> None:
    from anpr_training.widen import widen_recogniser

    narrow = _randomised(PlateRecogniser(1.0), affine=True)
    crops = torch.rand(6, 1, 32, 128)
    wide = widen_recogniser(narrow, 1.5, noise=0.0)
    assert wide.classifier.in_channels == 192 and wide.features[0][0].out_channels == 24
    for mode in ("eval", "train"):  # train: copied channels have the same batch statistics too
        getattr(narrow, mode)(), getattr(wide, mode)()
        with torch.no_grad():
            assert torch.allclose(wide(crops), narrow(crops), atol=1e-4)
    noisy = widen_recogniser(narrow, 1.5).eval()  # the noise that breaks the copies' symmetry is small
    narrow.eval()
    with torch.no_grad():
        assert not torch.equal(noisy(crops), wide.eval()(crops))
        agree = (noisy(crops).argmax(-1) == narrow(crops).argmax(-1)).float().mean()
        assert agree > 0.95
    with pytest.raises(ValueError, match="cannot widen"):
        widen_recogniser(narrow, 0.5)


def test_train_cli_widens_a_shipped_recogniser_it_fine_tunes(tmp_path: Path, model_repository: Path) -> None:
    from anpr.cli import main

    shipped = model_repository / "plate_recogniser/2/model.onnx"
    args = ["models", "train", "recogniser", "--steps", "1", "--batch-size", "2", "--samples", "4", "--threads", "1"]
    args += ["--run-dir", str(tmp_path), "--init-from", str(shipped), "--width", "1.5", "--no-export"]
    assert main(args) == 0
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert saved["width"] == 1.5 and saved["model"]["classifier.weight"].shape == (37, 192, 1)
    assert json.loads((tmp_path / "run.json").read_text())["width"] == 1.5


def test_a_model_loaded_from_onnx_trains_on_from_what_the_onnx_graph_computes(tmp_path: Path) -> None:
    """Exports fold each BatchNorm into its convolution and loading leaves identity BatchNorms: exact in
    eval mode, but training mode normalises by the batch's statistics and moves the running ones towards
    them, so an uncalibrated start is not the shipped model. Calibrated on a batch, it is."""
    from anpr_training.onnx_weights import calibrate_batch_norms, load_onnx_weights

    source = _randomised(PlateRecogniser(), affine=True)
    export_recogniser(source, tmp_path / "rec.onnx")
    crops = torch.rand(64, 1, 32, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = source(crops)
    drift = {}
    for calibrate in (False, True):
        model = PlateRecogniser()
        load_onnx_weights(tmp_path / "rec.onnx", model, torch.zeros(1, 1, 32, 128))
        if calibrate:
            calibrate_batch_norms(model, crops)
        with torch.no_grad():
            assert (model.eval()(crops) - expected).abs().max() < 1e-3  # eval mode: the ONNX graph either way
            model.train()
            for _ in range(5):  # training-mode passes, as the first steps make, without any weight update
                in_training = model(crops)
            drift[calibrate] = (model.eval()(crops) - expected).abs().max().item()
        if calibrate:
            assert (in_training - expected).abs().max() < 1e-3
    assert drift[True] < 1e-3 < 0.05 < drift[False]


def test_real_crops_are_cut_from_boxes_jittered_as_much_as_asked() -> None:
    from anpr_training.trainer import _real_crop_batch

    image = np.random.default_rng(0).integers(0, 256, (40, 160), dtype=np.uint8)
    targets, lengths = np.zeros((1, 10), np.int64), np.ones(1, np.int64)
    whole = np.array([[0, 0, 160, 40]], np.float32)
    exact = _real_crop_batch([image], whole, targets, lengths, 1, np.random.default_rng(1), jitter=0.0)[0]
    again = _real_crop_batch([image], whole, targets, lengths, 1, np.random.default_rng(2), jitter=0.0)[0]
    moved = _real_crop_batch([image], whole, targets, lengths, 1, np.random.default_rng(1), jitter=1.4)[0]
    assert np.array_equal(exact, again) and not np.array_equal(exact, moved)
    assert np.array_equal(exact[0], crop_plate(image, (0.0, 0.0, 160.0, 40.0)))
    # A plate inside a photo is cut from its own box, not from the whole photo.
    inside = _real_crop_batch(
        [image], np.array([[40, 5, 120, 35]], np.float32), targets, lengths, 1, np.random.default_rng(1), jitter=0.0
    )[0]
    assert np.array_equal(inside[0], crop_plate(image, (40.0, 5.0, 120.0, 35.0)))


def test_real_plates_narrower_than_asked_are_left_out_of_training(tmp_path: Path) -> None:
    import cv2

    from anpr_synth.labelled_set import format_label_line
    from anpr_synth.real_sets import TRAIN, split_of
    from anpr_training.datasets import real_crops

    folder = tmp_path / "detector" / "open-images"  # a set with a known split rule (a hash of the name)
    folder.mkdir(parents=True)
    name = next(f"{k:016x}" for k in range(100) if split_of(folder / f"{k:016x}.jpg") == TRAIN)
    cv2.imwrite(str(folder / f"{name}.jpg"), np.full((120, 200, 3), 128, np.uint8))
    lines = [
        format_label_line(f"{name}.jpg", (10, 10, 20, 6), "AB12CDE"),
        format_label_line(f"{name}.jpg", (50, 60, 60, 15), "XY34ZZZ"),
    ]
    (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    _, all_boxes, _, _ = real_crops((folder,))
    _, wide_boxes, _, lengths = real_crops((folder,), min_width=30)
    assert len(all_boxes) == 2
    assert wide_boxes.tolist() == [[50.0, 60.0, 110.0, 75.0]] and lengths.tolist() == [7]


def test_a_hidden_character_may_be_read_as_nothing_when_asked() -> None:
    from torch import nn

    from anpr.vision.ctc import encode_text
    from anpr_training.datasets import WILDCARD
    from anpr_training.trainer import hidden_optional_ctc_loss, wildcard_ctc_loss

    a, b = encode_text("AB")
    logits = torch.full((1, 32, 37), -10.0)
    logits[0, :, 0] = 10.0  # blank everywhere ...
    logits[0, 5, a], logits[0, 5, 0] = 10.0, -10.0  # ... but A, then B: the greyed-out character read as nothing
    logits[0, 9, b], logits[0, 9, 0] = 10.0, -10.0
    logits.requires_grad_(True)
    hidden = torch.tensor([[a, WILDCARD, b]]), torch.tensor([3])
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    optional = hidden_optional_ctc_loss(logits, *hidden)
    assert optional.item() < 0.01 < 5.0 < wildcard_ctc_loss(ctc, logits, *hidden).item()
    optional.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    # Without hidden characters both losses are nn.CTCLoss's.
    plain = torch.tensor([[a, b, 0]]), torch.tensor([2])
    assert hidden_optional_ctc_loss(logits, *plain).item() == pytest.approx(
        wildcard_ctc_loss(ctc, logits, *plain).item()
    )
    # More hidden characters than MAX_OPTIONAL_HIDDEN: they all stay wildcards (2**k readings are too many).
    only_full = (
        torch.tensor([[a, WILDCARD, b, WILDCARD, WILDCARD, WILDCARD]]),
        torch.tensor([6]),
    )
    assert hidden_optional_ctc_loss(logits, *only_full).item() == pytest.approx(
        wildcard_ctc_loss(ctc, logits, *only_full).item(), rel=1e-4
    )


def test_held_out_reads_may_skip_hidden_characters_when_asked() -> None:
    from anpr_training.datasets import encode_label
    from anpr_training.trainer import _reads_label

    target = encode_label("074?C?V")
    assert _reads_label("0741C2V", target) and not _reads_label("074CV", target)
    assert _reads_label("074CV", target, skip_hidden=True) and _reads_label("074C2V", target, skip_hidden=True)
    assert not _reads_label("07CV", target, skip_hidden=True)  # a visible character missing
    assert not _reads_label("AB12CD", encode_label("AB12CDE"), skip_hidden=True)


def test_hard_negatives_are_the_detectors_boxes_away_from_every_labelled_plate(
    tmp_path: Path, model_repository: Path
) -> None:
    from anpr_synth.labelled_set import format_label_line
    from anpr_synth.real_sets import TRAIN, split_of
    from anpr_synth.scene import generate_frame
    from anpr_training.negatives import CLEARANCE, hard_negatives

    frame = next(f for k in range(20) if len((f := generate_frame(7, k, frame_size=(640, 360))).plates) >= 1)
    detector = model_repository / "plate_detector" / "3" / "model.onnx"
    mined = {}
    for labelled in (True, False):
        folder = tmp_path / str(labelled) / "detector" / "open-images"  # a set split by a hash of the name
        folder.mkdir(parents=True)
        name = next(f"{k:016x}" for k in range(100) if split_of(folder / f"{k:016x}.jpg") == TRAIN)
        (folder / f"{name}.jpg").write_bytes(frame.jpeg)
        lines = [format_label_line(f"{name}.jpg", p.box, p.text) for p in frame.plates] if labelled else []
        (folder / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
        mined[labelled] = hard_negatives((folder,), detector)
    plates = [(x, y, x + w, y + h) for x, y, w, h in (p.box for p in frame.plates)]

    def near_a_plate(box: np.ndarray) -> bool:
        return any(
            box[0] < x2 + CLEARANCE * (x2 - x1)
            and box[2] > x1 - CLEARANCE * (x2 - x1)
            and box[1] < y2 + CLEARANCE * (y2 - y1)
            and box[3] > y1 - CLEARANCE * (y2 - y1)
            for x1, y1, x2, y2 in plates
        )

    # Unlabelled, the detector's plate boxes are (wrongly) negatives: the mining really runs the detector.
    assert any(near_a_plate(box) for box in mined[False][1])
    images, boxes, targets, lengths = mined[True]
    assert not any(near_a_plate(box) for box in boxes)
    assert len(images) == len(boxes) == len(targets) == len(lengths)
    assert not targets.any() and not lengths.any()  # read as nothing


def test_hard_negatives_need_a_detector_to_mine_them(tmp_path: Path) -> None:
    run = TrainingRun(
        "recogniser",
        tmp_path,
        steps=1,
        batch_size=2,
        learning_rate=1e-3,
        samples=2,
        hard_negatives=(tmp_path,),
        negative_share=0.5,
    )
    with pytest.raises(ValueError, match="detector"):
        train(run)
