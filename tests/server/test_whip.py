"""WHIP ingest through the real server: an aiortc client publishes synthetic plate video over WebRTC
on this machine, the server decodes and samples it into the scheduler, and capture records come back
over SubscribeEvents; bad requests get their status codes and sessions never leak."""

from __future__ import annotations

import asyncio
import fractions
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest

aiortc = pytest.importorskip("aiortc")
av = pytest.importorskip("av")

from anpr.config import Settings  # noqa: E402
from anpr.scheduling import SchedulerPolicy  # noqa: E402
from anpr.security import SecuritySettings  # noqa: E402
from anpr.vehicles.passes import PassSettings  # noqa: E402
from anpr.whip.settings import WhipSettings  # noqa: E402
from anpr_benchmarks.video_decode import yuv_frame  # noqa: E402
from tests.conftest import HOLD_OUT_SEED  # noqa: E402
from tests.server.test_observability import samples, scrape  # noqa: E402
from tests.server.test_vehicles import Subscription  # noqa: E402
from tests.serving import RunningServer  # noqa: E402

TOKEN = "whip-camera-token-0123456789"
PASSES = 3
FRAMES_PER_PASS = 16
FPS = 10


@pytest.fixture(scope="module")
def plate_video():
    """Grey frames of vehicles passing, each pass followed by a second of empty road; and the texts."""
    from anpr_synth.passes import generate_pass

    passes = [generate_pass(HOLD_OUT_SEED + 7, k, frame_count=FRAMES_PER_PASS, misread=False) for k in range(PASSES)]
    frames: list[np.ndarray] = []
    for synthetic in passes:
        frames += [shown.image for shown in synthetic.frames]
        frames += [np.full_like(synthetic.frames[0].image, 90)] * FPS
    return frames, [synthetic.text for synthetic in passes]


@pytest.fixture(scope="module")
def whip_server(tmp_path_factory):
    tokens = tmp_path_factory.mktemp("whip") / "tokens"
    tokens.write_text(f"camera-gw {TOKEN}\n")
    settings = Settings(
        port=0,
        metrics_port=0,
        backend="onnxruntime",
        scheduler=SchedulerPolicy(camera_queue_depth=64, max_frame_age_ms=600_000),  # every sampled frame read
        passes=PassSettings(gap_ms=600),
        security=SecuritySettings(tokens_file=tokens),
        whip=WhipSettings(enabled=True, port=0, max_sessions=2, sample_fps=FPS, connect_timeout_s=5, idle_timeout_s=3),
    )
    server = RunningServer(settings)
    server.wait_ready(60)
    yield server
    server.stop()


class PlateTrack(aiortc.VideoStreamTrack):
    """The frames at FPS, then the last frame again until stopped."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__()
        self.frames = frames
        self.sent = 0

    async def recv(self):
        await asyncio.sleep(1 / FPS)
        grey = self.frames[min(self.sent, len(self.frames) - 1)]
        frame = yuv_frame(grey)
        frame.pts, frame.time_base = self.sent, fractions.Fraction(1, FPS)
        self.sent += 1
        return frame


def http(method: str, url: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def offer_headers(token: str = TOKEN) -> dict:
    return {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}


async def publish(base: str, camera: str, frames: list[np.ndarray], codec: str = "VP8") -> None:
    """The WHIP exchange as a client does it, then the video until every frame was sent, then DELETE."""
    peer = aiortc.RTCPeerConnection()
    track = PlateTrack(frames)
    transceiver = peer.addTransceiver(track, direction="sendonly")
    capabilities = aiortc.RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in capabilities if c.mimeType == f"video/{codec}"])
    await peer.setLocalDescription(await peer.createOffer())  # gathers every candidate: no trickle
    loop = asyncio.get_running_loop()
    status, headers, answer = await loop.run_in_executor(
        None, http, "POST", f"{base}/whip/{camera}", peer.localDescription.sdp.encode(), offer_headers()
    )
    assert status == 201 and headers["Content-Type"] == "application/sdp", answer
    await peer.setRemoteDescription(aiortc.RTCSessionDescription(answer.decode(), "answer"))
    while track.sent < len(frames):
        await asyncio.sleep(0.2)
    status, _, _ = await loop.run_in_executor(None, http, "DELETE", base + headers["Location"], b"", offer_headers())
    assert status == 200
    await peer.close()


def whip_base(server: RunningServer) -> str:
    return f"http://127.0.0.1:{server.server.whip_port}"


def sessions_open(server: RunningServer) -> float:
    return samples(scrape(server))[("anpr_whip_sessions", ())]


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_published_video_gives_one_capture_record_per_vehicle(whip_server, plate_video, codec: str) -> None:
    frames, texts = plate_video
    subscription = Subscription(whip_server.channel, metadata=[("authorization", f"Bearer {TOKEN}")], captures=True)
    time.sleep(0.5)
    asyncio.run(publish(whip_base(whip_server), f"whip-{codec}", frames, codec))
    deadline = time.monotonic() + 30
    while len(subscription.of_kind("capture")) < PASSES and time.monotonic() < deadline:
        time.sleep(0.2)
    subscription.call.cancel()
    assert subscription.code in (None, grpc.StatusCode.CANCELLED), subscription.details
    records = subscription.of_kind("capture")
    assert {r.camera_id for r in records} == {f"whip-{codec}"}
    assert sorted(r.text for r in records) == sorted(texts), [(r.text, r.frames) for r in records]
    values = samples(scrape(whip_server))
    assert values[("anpr_whip_frames_total", (("stage", "sampled"),))] >= len(frames) * 0.8
    assert values[("anpr_whip_sessions_ended_total", (("reason", "deleted"),))] >= 1
    assert sessions_open(whip_server) == 0


def test_bad_requests_get_their_status_codes_and_no_session_leaks(whip_server) -> None:
    base = whip_base(whip_server)
    before = sessions_open(whip_server)
    assert http("POST", f"{base}/whip/cam-x", b"v=0\r\n", {"Content-Type": "application/sdp"})[0] == 401
    assert http("POST", f"{base}/whip/cam-x", b"v=0\r\n", offer_headers("not-a-known-token-at-all"))[0] == 401
    assert http("POST", f"{base}/whip/cam-x", b"{}", {**offer_headers(), "Content-Type": "application/json"})[0] == 415
    assert http("POST", f"{base}/whip/cam-x", b"not an offer", offer_headers())[0] == 400
    assert http("POST", f"{base}/whip/bad%20id", b"v=0\r\n", offer_headers())[0] == 400
    no_video = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
    assert http("POST", f"{base}/whip/cam-x", no_video.encode(), offer_headers())[0] == 400
    assert http("POST", f"{base}/whip/cam-x", b"v=0\r\nm=video" + b"x" * 70_000, offer_headers())[0] == 413
    assert http("DELETE", f"{base}/whip/sessions/unknown", b"", offer_headers())[0] == 404
    assert http("PATCH", f"{base}/whip/sessions/unknown", b"a=candidate", offer_headers())[0] == 404
    status, headers, _ = http("OPTIONS", f"{base}/whip/cam-x")
    assert status == 204 and headers["Accept-Post"] == "application/sdp"
    assert sessions_open(whip_server) == before


PEER_GONE = ("closed", "failed", "track_ended")  # a closing aiortc peer says BYE: its track ends first


def ended(server: RunningServer, reason: str) -> float:
    return samples(scrape(server)).get(("anpr_whip_sessions_ended_total", (("reason", reason),)), 0.0)


def test_sessions_over_the_limit_are_refused_and_each_is_freed(whip_server) -> None:
    """Two sessions (the limit): one connected whose peer then goes away without a DELETE, one ended
    by DELETE; a third refused; and one whose client never connects, ended by the connect timeout."""
    base = whip_base(whip_server)
    closed_before = sum(ended(whip_server, reason) for reason in PEER_GONE)
    timed_out_before = ended(whip_server, "connect_timeout")

    async def offer(loop) -> tuple[aiortc.RTCPeerConnection, int, dict, bytes]:
        peer = aiortc.RTCPeerConnection()
        peer.addTrack(PlateTrack([np.zeros((240, 320), np.uint8)]))
        await peer.setLocalDescription(await peer.createOffer())
        sdp = peer.localDescription.sdp.encode()
        status, headers, body = await loop.run_in_executor(
            None, http, "POST", f"{base}/whip/cam-limit", sdp, offer_headers()
        )
        return peer, status, headers, body

    async def scenario() -> list[int]:
        loop = asyncio.get_running_loop()
        vanishing, status_a, headers_a, answer = await offer(loop)
        await vanishing.setRemoteDescription(aiortc.RTCSessionDescription(answer.decode(), "answer"))
        deleted, status_b, headers_b, _ = await offer(loop)
        refused, status_c, _, _ = await offer(loop)
        assert sessions_open(whip_server) == 2
        patched = await loop.run_in_executor(None, http, "PATCH", base + headers_b["Location"], b"a=x", offer_headers())
        removed = await loop.run_in_executor(None, http, "DELETE", base + headers_b["Location"], b"", offer_headers())
        for _ in range(100):
            if vanishing.connectionState == "connected":
                break
            await asyncio.sleep(0.1)
        assert vanishing.connectionState == "connected"
        await vanishing.close()  # gone without a DELETE
        for peer in (deleted, refused):
            await peer.close()
        silent, status_e, _, _ = await offer(loop)  # never applies the answer: never connects
        await silent.close()
        return [status_a, status_b, status_c, patched[0], removed[0], status_e]

    assert asyncio.run(scenario()) == [201, 201, 503, 405, 200, 201]
    deadline = time.monotonic() + 20  # the connect timeout is 5 s here
    while sessions_open(whip_server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sessions_open(whip_server) == 0
    assert sum(ended(whip_server, reason) for reason in PEER_GONE) == closed_before + 1
    assert ended(whip_server, "connect_timeout") == timed_out_before + 1


def write_y4m(path: Path, frames: list[np.ndarray]) -> None:
    """The frames as a Y4M file, the format Chromium's fake camera plays (looping)."""
    with av.open(str(path), "w", format="yuv4mpegpipe") as container:
        stream = container.add_stream("rawvideo", rate=FPS)
        stream.height, stream.width = frames[0].shape
        stream.pix_fmt = "yuv420p"
        for grey in frames:
            for packet in stream.encode(yuv_frame(grey)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_a_browser_publishes_over_whip_and_capture_records_arrive(whip_server, plate_video, tmp_path: Path) -> None:
    """An independent WebRTC client: headless Chromium with its fake camera playing plate video, driven
    by a page that does the WHIP exchange (tests/server/whip_page/publish.html)."""
    import functools
    import http.server
    import shutil
    import subprocess
    import threading

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian chromium is not installed (make test installs it)")
    frames, texts = plate_video
    video = tmp_path / "plates.y4m"
    write_y4m(video, frames)
    page_dir = Path(__file__).parent / "whip_page"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(page_dir))
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # another origin: CORS is exercised
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    whip = f"{whip_base(whip_server)}/whip/browser-cam"
    url = f"http://127.0.0.1:{pages.server_address[1]}/publish.html?whip={whip}&token={TOKEN}"
    subscription = Subscription(whip_server.channel, metadata=[("authorization", f"Bearer {TOKEN}")], captures=True)
    browser = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
            "--disable-features=WebRtcHideLocalIpsWithMdns",  # plain host candidates aiortc can reach
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not set(texts) <= {r.text for r in subscription.of_kind("capture")} and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        browser.terminate()
        browser.wait(10)
        pages.shutdown()
        subscription.call.cancel()
    records = subscription.of_kind("capture")
    assert {r.camera_id for r in records} == {"browser-cam"}
    assert set(texts) <= {r.text for r in records}, [(r.text, r.frames) for r in records]
    deadline = time.monotonic() + 20  # the browser was killed, without a word: its video stops (idle)
    while sessions_open(whip_server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sessions_open(whip_server) == 0
