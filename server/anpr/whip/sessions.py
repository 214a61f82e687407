"""WebRTC sessions of cameras publishing over WHIP: one aiortc peer connection per camera, its video
decoded by aiortc (VP8, H.264) and sampled at `sample_fps` (the newest frame wins) into the same
scheduler as gRPC frames.

A session ends, freeing its peer connection and decoder, when the client DELETEs it, when ICE or
DTLS fails or the peer goes away (connection state `failed` or `closed`, or its track ends), when it
is not connected within `connect_timeout_s`, or when the server stops. Every session is counted when
it starts and when it ends, by reason. A peer that vanishes without a word (killed, unplugged) is
noticed when its video stops for `idle_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from anpr.observability.metrics import ServerMetrics
from anpr.whip.settings import WhipSettings

log = logging.getLogger(__name__)

END_REASONS = ("deleted", "failed", "closed", "track_ended", "idle", "connect_timeout", "shutdown")


class OfferError(ValueError):
    """An SDP offer that cannot start a session (the message is safe to send back)."""


FrameSink = Callable[[str, int, object, int, int], None]  # camera id, sequence, av.VideoFrame, width, height


@dataclass(eq=False)
class WhipSession:
    id: str
    camera_id: str
    identity: str | None
    peer: RTCPeerConnection
    started_at: float = field(default_factory=time.monotonic)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    frames_decoded: int = 0
    frames_sampled: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class WhipSessions:
    """The live sessions, at most `max_sessions`; owns their peer connections and tasks."""

    def __init__(self, settings: WhipSettings, sink: FrameSink, metrics: ServerMetrics) -> None:
        self.settings = settings
        self._sink = sink
        self._metrics = metrics
        self._sessions: dict[str, WhipSession] = {}
        for reason in END_REASONS:
            metrics.whip_sessions_ended.labels(reason)
        self._starting = 0  # offers being answered, counted against the limit too
        self._ending: set[asyncio.Task[bool]] = set()  # held so the loop does not drop them half-way

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> WhipSession | None:
        return self._sessions.get(session_id)

    @property
    def full(self) -> bool:
        return len(self._sessions) + self._starting >= self.settings.max_sessions

    async def start(self, camera_id: str, identity: str | None, offer_sdp: str) -> tuple[WhipSession, str]:
        """Answers an offer: the new session and its SDP answer. Raises OfferError for a bad offer."""
        if "m=video" not in offer_sdp:
            raise OfferError("the offer has no video (m=video) section")
        self._starting += 1
        peer = RTCPeerConnection()
        try:
            session = WhipSession(uuid.uuid4().hex, camera_id, identity, peer)
            peer.on("track", lambda track: self._on_track(session, track))
            peer.on("connectionstatechange", lambda: self._on_state(session))
            try:
                await peer.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
                if not any(t.kind == "video" for t in peer.getTransceivers()):
                    raise OfferError("the offer has no video track this server can receive")
                await peer.setLocalDescription(await peer.createAnswer())
            except OfferError:
                raise
            except Exception as error:  # aiortc raises ValueError, KeyError... for SDP it cannot use
                raise OfferError(f"the SDP offer could not be used: {type(error).__name__}") from None
        except BaseException:
            await peer.close()
            raise
        finally:
            self._starting -= 1
        self._sessions[session.id] = session
        self._metrics.whip_sessions_started.inc()
        self._metrics.whip_sessions.set(len(self._sessions))
        self._spawn(session, self._connect_deadline(session))
        log.info("WHIP session %s started for camera %s", session.id, camera_id)
        return session, peer.localDescription.sdp

    def _spawn(self, session: WhipSession, work) -> None:
        task = asyncio.create_task(work)
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)

    def _on_track(self, session: WhipSession, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._spawn(session, self._sample(session, track))

    def _on_state(self, session: WhipSession) -> None:
        state = session.peer.connectionState
        if state == "connected":
            session.connected.set()
        elif state in ("failed", "closed"):
            self._spawn_end(session, state)

    def _spawn_end(self, session: WhipSession, reason: str) -> None:
        if session.id in self._sessions:
            task = asyncio.get_running_loop().create_task(self.end(session.id, reason))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

    async def _connect_deadline(self, session: WhipSession) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.connected.wait(), self.settings.connect_timeout_s)
            return
        self._spawn_end(session, "connect_timeout")

    async def _sample(self, session: WhipSession, track: MediaStreamTrack) -> None:
        """Receives every decoded frame (inter-frame codecs need them all) and hands on the newest
        one each 1 / sample_fps; converting it to grey waits for its batch, in a worker thread."""
        period = 1.0 / self.settings.sample_fps
        await session.connected.wait()  # until then the connect timeout watches it
        due = time.monotonic()
        while True:
            try:  # a video track gives av.VideoFrame
                frame = await asyncio.wait_for(track.recv(), self.settings.idle_timeout_s)
            except MediaStreamError:
                self._spawn_end(session, "track_ended")
                return
            except TimeoutError:  # killed, unplugged, network gone: ICE consent would take ~30 s to tell
                self._spawn_end(session, "idle")
                return
            session.frames_decoded += 1
            self._metrics.whip_frames.labels("decoded").inc()
            now = time.monotonic()
            if now < due:
                continue
            due = max(due + period, now)
            session.frames_sampled += 1
            self._metrics.whip_frames.labels("sampled").inc()
            assert isinstance(frame, VideoFrame)
            self._sink(session.camera_id, session.frames_sampled, frame, frame.width, frame.height)

    async def end(self, session_id: str, reason: str) -> bool:
        """Ends a session (False if there is none): closes its peer connection and stops its tasks."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        current = asyncio.current_task()
        for task in list(session.tasks):
            if task is not current:
                task.cancel()
        await session.peer.close()
        self._metrics.whip_sessions_ended.labels(reason).inc()
        self._metrics.whip_sessions.set(len(self._sessions))
        log.info(
            "WHIP session %s ended (%s) after %.1f s, %d frames decoded, %d sampled",
            session.id,
            reason,
            time.monotonic() - session.started_at,
            session.frames_decoded,
            session.frames_sampled,
        )
        return True

    async def close(self) -> None:
        for session_id in list(self._sessions):
            await self.end(session_id, "shutdown")
