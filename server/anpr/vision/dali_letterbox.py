"""Decode, grey and letterbox with NVIDIA DALI: the pre-processing of the Triton-side pipeline.

The same pipeline definitions run on the CPU (inside the `plate_pipeline` Python model here) and on a
GPU (`device="mixed"`: nvJPEG, and the hardware JPEG decoder where the GPU has one). DALI decodes to
grey exactly as the front end does (libjpeg-turbo's own luminance; EXIF orientation ignored, as the
front end ignores it). The letterbox resampling is chosen by `resample`:
- `opencv`: the decoded frame is letterboxed by the front end's own `letterbox` (INTER_AREA), so the
  detector sees the same pixels and the reads are the front end's, frame for frame. The CPU default.
- `dali`: DALI resizes too (antialiased cubic, the closest of DALI's filters to INTER_AREA for the
  models trained on it), with the front end's geometry (`letterbox_geometry`, from the image header)
  passed in per frame, so boxes map back exactly. What a GPU keeps on the device; measured on the CPU
  at -0.9 points of plate accuracy pooled over four sets (13 of 1,480 plates; BENCHMARKS.md): the models were trained
  on INTER_AREA pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from nvidia.dali import fn, pipeline_def, types

from anpr.contract import DETECTOR_INPUT_HW
from anpr.domain import InvalidFrame, Reason
from anpr.ingest.decode import encoded_size
from anpr.vision.letterbox import PAD_VALUE, Letterbox, letterbox, letterbox_geometry

Resample = Literal["opencv", "dali"]

ENCODED, SIZE, START = "encoded", "size", "start"  # the pipeline's external sources


@dataclass(frozen=True)
class Prepared:
    """One decoded frame: its grey pixels (for plate crops), the detector input and the transform."""

    grey: np.ndarray  # (H, W) uint8
    letterboxed: np.ndarray  # DETECTOR_INPUT_HW uint8
    transform: Letterbox


def _decoded(device: str):  # type: ignore[no-untyped-def]
    encoded = fn.external_source(name=ENCODED, dtype=types.DALIDataType.UINT8, ndim=1)
    return fn.decoders.image(encoded, device=device, output_type=types.DALIImageType.GRAY, adjust_orientation=False)


@pipeline_def
def _decode_pipeline(device: str):  # type: ignore[no-untyped-def]
    return _decoded(device)


@pipeline_def
def _letterbox_pipeline(device: str, input_hw: tuple[int, int]):  # type: ignore[no-untyped-def]
    grey = _decoded(device)
    size = fn.external_source(name=SIZE, dtype=types.DALIDataType.FLOAT, ndim=1)  # (new_h, new_w)
    start = fn.external_source(name=START, dtype=types.DALIDataType.INT32, ndim=1)  # (-pad_y, -pad_x)
    resized = fn.resize(grey, size=size, interp_type=types.DALIInterpType.INTERP_CUBIC, antialias=True)
    boxed = fn.slice(
        resized,  # type: ignore[arg-type]
        start=start,
        shape=list(input_hw),
        axes=[0, 1],
        out_of_bounds_policy="pad",
        fill_values=PAD_VALUE,
    )
    return grey, boxed


def frame_geometry(data: bytes, input_hw: tuple[int, int] = DETECTOR_INPUT_HW) -> tuple[tuple[int, int], Letterbox]:
    """The letterbox of an encoded frame from its header alone (bounded work); raises InvalidFrame."""
    width, height = encoded_size(data)
    if width < 1 or height < 1:
        raise InvalidFrame(f"image {width}x{height} has no pixels", Reason.CORRUPT)
    return letterbox_geometry(width, height, input_hw)


class DaliLetterbox:
    """A built DALI pipeline taking up to `max_batch` encoded frames a run."""

    def __init__(
        self,
        max_batch: int,
        threads: int = 1,
        device: str = "cpu",
        resample: Resample = "opencv",
        input_hw: tuple[int, int] = DETECTOR_INPUT_HW,
    ) -> None:
        self.max_batch = max_batch
        self.threads = threads
        self.device = device
        self.resample = resample
        self.input_hw = input_hw
        self._pipeline = self._build()

    def _build(self):  # type: ignore[no-untyped-def]
        arguments = (self.device,) if self.resample == "opencv" else (self.device, self.input_hw)
        pipeline = (_decode_pipeline if self.resample == "opencv" else _letterbox_pipeline)(
            *arguments,
            batch_size=self.max_batch,
            num_threads=self.threads,
            device_id=0 if self.device != "cpu" else None,
            prefetch_queue_depth=1,
            exec_async=False,
            exec_pipelined=False,
        )
        pipeline.build()
        return pipeline

    def _run(self, frames: Sequence[bytes], geometry: Sequence[tuple[tuple[int, int], Letterbox]]) -> list[Prepared]:
        self._pipeline.feed_input(ENCODED, [np.frombuffer(data, np.uint8) for data in frames])
        if self.resample == "opencv":
            (grey,) = self._pipeline.run()
            if self.device != "cpu":
                grey = grey.as_cpu()
            decoded = [np.array(grey.at(k))[..., 0] for k in range(len(frames))]
            return [Prepared(image, *letterbox(image, self.input_hw)) for image in decoded]
        self._pipeline.feed_input(SIZE, [np.array([h, w], np.float32) for (w, h), _ in geometry])
        self._pipeline.feed_input(START, [np.array([-int(t.pad_y), -int(t.pad_x)], np.int32) for _, t in geometry])
        grey, boxed = self._pipeline.run()
        if self.device != "cpu":
            grey, boxed = grey.as_cpu(), boxed.as_cpu()
        return [
            Prepared(np.array(grey.at(k))[..., 0], np.array(boxed.at(k))[..., 0], t)
            for k, (_, t) in enumerate(geometry)
        ]

    def prepare(self, frames: Sequence[bytes]) -> list[Prepared | InvalidFrame]:
        """Each frame decoded and letterboxed, or the reason it cannot be. A frame that fails takes only
        itself down: the batch is re-run without it (DALI fails a whole run, and must be rebuilt)."""
        results: list[Prepared | InvalidFrame] = []
        for start in range(0, len(frames), self.max_batch):
            results.extend(self._prepare_chunk(frames[start : start + self.max_batch]))
        return results

    def _prepare_chunk(self, frames: Sequence[bytes]) -> list[Prepared | InvalidFrame]:
        results: list[Prepared | InvalidFrame | None] = [None] * len(frames)
        geometry = {}
        for k, data in enumerate(frames):
            try:
                geometry[k] = frame_geometry(data, self.input_hw)
            except InvalidFrame as error:
                results[k] = error
        try:
            self._fill(results, frames, geometry, list(geometry))
        except RuntimeError:
            self._pipeline = self._build()
            for k in geometry:  # one at a time, to find the frames that do not decode
                try:
                    self._fill(results, frames, geometry, [k])
                except RuntimeError:  # DALI says which operator failed, not why: libjpeg wrote that to stderr
                    self._pipeline = self._build()
                    results[k] = InvalidFrame("corrupt image data: the DALI decoder refused it", Reason.CORRUPT)
        assert all(result is not None for result in results)
        return results  # type: ignore[return-value]

    def _fill(
        self,
        results: list[Prepared | InvalidFrame | None],
        frames: Sequence[bytes],
        geometry: dict[int, tuple[tuple[int, int], Letterbox]],
        which: list[int],
    ) -> None:
        if not which:
            return
        for k, prepared in zip(which, self._run([frames[k] for k in which], [geometry[k] for k in which])):
            results[k] = prepared
