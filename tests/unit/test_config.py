"""Settings: defaults < TOML file < ANPR_* environment < flags; bad values fail with the field name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from anpr.config import Settings, load_settings
from tests.repo import ROOT


def test_precedence_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "anpr.toml"
    config.write_text('port = 6000\nbackend = "onnxruntime"\n[scheduler]\nmax_batch = 8\ncamera_queue_depth = 3\n')
    settings = load_settings(config)
    assert (settings.port, settings.backend, settings.scheduler.max_batch) == (6000, "onnxruntime", 8)
    monkeypatch.setenv("ANPR_PORT", "7000")
    monkeypatch.setenv("ANPR_SCHEDULER__MAX_BATCH", "12")
    settings = load_settings(config)
    assert (settings.port, settings.scheduler.max_batch, settings.scheduler.camera_queue_depth) == (7000, 12, 3)
    assert load_settings(config, port=8000).port == 8000


def test_bad_values_name_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANPR_SCHEDULER__MAX_BATCH", "0")
    with pytest.raises(ValidationError, match="max_batch"):
        load_settings()
    monkeypatch.delenv("ANPR_SCHEDULER__MAX_BATCH")
    config = tmp_path / "typo.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(config)
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "missing.toml")


def test_plate_formats_are_configurable_and_checked(tmp_path: Path) -> None:
    config = tmp_path / "anpr.toml"
    config.write_text('[pipeline]\nplate_formats = ["GB", "FR"]\nformat_correction = false\n')
    settings = load_settings(config)
    assert [f.name for f in settings.pipeline.formats] == ["GB", "FR"]
    assert settings.pipeline.format_correction is False
    config.write_text('[pipeline]\nplate_formats = ["GB", "ZZ"]\n')
    with pytest.raises(ValidationError, match="ZZ"):
        load_settings(config)


def test_triton_side_preprocessing_is_refused_where_it_cannot_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANPR_PIPELINE__PREPROCESSING", "triton")
    assert load_settings(backend="triton").pipeline.preprocessing == "triton"
    assert load_settings(backend="null").pipeline.preprocessing == "triton"
    with pytest.raises(ValidationError, match="needs the triton backend"):
        load_settings(backend="onnxruntime")
    monkeypatch.setenv("ANPR_PASSES__OVERVIEW_IMAGES", "true")
    with pytest.raises(ValidationError, match="overview_images needs"):
        load_settings(backend="triton")
    monkeypatch.setenv("ANPR_PIPELINE__PREPROCESSING", "gpu")
    with pytest.raises(ValidationError, match="preprocessing"):
        load_settings()


def test_every_setting_is_documented_in_the_readme() -> None:
    """The README's configuration table names every field operators can set, nested ones as `section.field`."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Privacy")]
    names = []
    for name, field in Settings.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names += [f"{name}.{inner}" for inner in nested.model_fields]
        else:
            names.append(name)
    missing = [name for name in names if f"`{name}`" not in table and f".{name.split('.')[-1]}`" not in table]
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_serve_without_its_models_or_a_local_triton_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a bare `pip install .` meets: no model files beside it, no `local-triton` extra."""
    from anpr.cli import main

    config = tmp_path / "anpr.toml"
    config.write_text(f'port = 0\nmetrics_port = 0\n[pipeline]\nmodel_repository = "{tmp_path / "none"}"\n')
    assert main(["serve", "--config", str(config), "--backend", "onnxruntime"]) == 2
    assert "model file not found" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pytriton", None)  # as if nvidia-pytriton were not installed
    assert main(["serve", "--config", str(config), "--backend", "triton"]) == 2
    assert "`local-triton` extra" in capsys.readouterr().err
