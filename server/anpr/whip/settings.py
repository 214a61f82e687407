"""Settings of the WHIP endpoint, apart from it so the server's settings load without aiortc."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WhipSettings(BaseModel):
    """The WHIP endpoint (WebRTC ingest); part of the server's settings."""

    model_config = {"extra": "forbid", "frozen": True}

    enabled: bool = Field(False, description="serve WHIP (RFC 9725) on host:port")
    host: str = Field("127.0.0.1", description="address of the WHIP HTTP endpoint")
    port: int = Field(8889, ge=0, le=65535, description="its port; 0 picks a free one")
    max_sessions: int = Field(32, ge=1, description="concurrent sessions; more are refused 503")
    sample_fps: float = Field(10.0, gt=0, le=60, description="frames a second taken from each camera's video")
    connect_timeout_s: float = Field(30.0, gt=0, description="a session not connected by then is ended")
    idle_timeout_s: float = Field(
        10.0, gt=0, description="a session whose video stops this long is ended (a peer gone without a word)"
    )
    max_offer_bytes: int = Field(64 * 1024, ge=1024, description="largest SDP offer read")
