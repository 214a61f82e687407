"""`anpr bench video`: what WHIP video costs the front end, in frames per CPU-second.

Synthetic 720p plate video is encoded as a camera would send it (H.264 with libx264, VP8 with libvpx;
real-time settings, 2 Mbit/s at 10 frames/s, a key frame every 3 s), then decoded with aiortc's own
decoders, the ones a WHIP session runs, and converted to the grey image the models read (which the
server does only for the frames it samples). CPU time is the process's, so decoder threads count.
"""

from __future__ import annotations

import fractions
import time
from pathlib import Path

import av
import numpy as np
from aiortc import RTCRtpCodecParameters
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterFrame
from tqdm import tqdm

from anpr_benchmarks.common import RESULTS, pyplot, save_figure, write_result
from anpr_synth.passes import generate_pass

FPS = 10
CODECS = {"H264": "libx264", "VP8": "libvpx"}
ENCODER_OPTIONS = {"libx264": {"preset": "veryfast", "tune": "zerolatency"}, "libvpx": {"deadline": "realtime"}}


def plate_video(frames: int, size: tuple[int, int] = (1280, 720)) -> list[np.ndarray]:
    """Grey frames of synthetic vehicles passing, `frames` of them."""
    video: list[np.ndarray] = []
    index = 0
    while len(video) < frames:
        video += [shown.image for shown in generate_pass(7100, index, frame_count=20, frame_size=size).frames]
        index += 1
    return video[:frames]


def yuv_frame(grey: np.ndarray) -> av.VideoFrame:
    """A grey image as the YUV 4:2:0 video frame a camera's encoder takes."""
    return av.VideoFrame.from_ndarray(grey, format="gray").reformat(format="yuv420p")


def encode(frames: list[np.ndarray], encoder: str, bitrate: int = 2_000_000) -> list[bytes]:
    context = av.CodecContext.create(encoder, "w")
    context.height, context.width = frames[0].shape
    context.pix_fmt, context.bit_rate = "yuv420p", bitrate
    context.time_base, context.framerate = fractions.Fraction(1, FPS), fractions.Fraction(FPS, 1)
    context.gop_size = 3 * FPS
    context.options = ENCODER_OPTIONS[encoder]
    packets: list[bytes] = []
    for k, grey in enumerate(frames):
        frame = yuv_frame(grey)
        frame.pts = k
        packets += [bytes(packet) for packet in context.encode(frame)]
    packets += [bytes(packet) for packet in context.encode(None)]
    return packets


def decode_rate(codec: str, packets: list[bytes], grey: bool) -> dict:
    """Frames per CPU-second (and per wall second) of aiortc's decoder, with the grey conversion or not."""
    decoder = get_decoder(RTCRtpCodecParameters(mimeType=f"video/{codec}", clockRate=90000, payloadType=96))
    decoded = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for k, data in enumerate(packets):
        for frame in decoder.decode(JitterFrame(data=data, timestamp=k * 9000)):
            decoded += 1
            if grey:
                frame.to_ndarray(format="gray")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"frames": decoded, "frames_per_cpu_second": decoded / cpu, "frames_per_second": decoded / wall}


def run(frames: int = 300, out: Path = RESULTS, name: str = "video_decode") -> dict:
    video = plate_video(frames)
    rows = []
    for codec, encoder in tqdm(CODECS.items(), desc="codecs"):
        packets = encode(video, encoder)
        megabits = 8 * sum(len(p) for p in packets) / 1e6
        for grey in (False, True):
            rows.append(
                {
                    "codec": codec,
                    "encoder": encoder,
                    "grey": grey,
                    "mbit_per_s": megabits / (len(video) / FPS),
                    **decode_rate(codec, packets, grey),
                }
            )
    payload = {"size": [int(video[0].shape[1]), int(video[0].shape[0])], "fps": FPS, "results": rows}
    write_result(name, payload, out)
    plot(payload, out / f"{name}.png")
    return payload


def plot(payload: dict, path: Path) -> None:
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{r['codec']}\n{'decode + grey' if r['grey'] else 'decode'}" for r in payload["results"]]
    ax.bar(labels, [r["frames_per_cpu_second"] for r in payload["results"]], color="tab:blue")
    ax.set_ylabel("frames per CPU-second")
    width, height = payload["size"]
    ax.set_title(f"WHIP video in the front end: {width}x{height}, aiortc's decoders")
    ax.grid(axis="y", alpha=0.3)
    save_figure(figure, path)


def format_table(payload: dict) -> str:
    lines = [f"{'codec':<6} {'stage':<14} {'Mbit/s':>6} {'frames/CPU-s':>12} {'frames/s':>9}"]
    for r in payload["results"]:
        stage = "decode + grey" if r["grey"] else "decode"
        lines.append(
            f"{r['codec']:<6} {stage:<14} {r['mbit_per_s']:>6.2f} {r['frames_per_cpu_second']:>12.0f} "
            f"{r['frames_per_second']:>9.0f}"
        )
    return "\n".join(lines)
