"""The WHIP endpoint (RFC 9725) over aiohttp: cameras and gateways publish WebRTC video to
`POST /whip/{camera_id}` and end it with `DELETE` on the session URL the answer's `Location` gives.

- POST with an SDP offer (`Content-Type: application/sdp`): `201 Created`, the SDP answer (all of the
  server's ICE candidates in it: no trickle), `Location: /whip/sessions/{id}`. `415` for another
  content type, `400` for an offer that cannot be used or a bad camera id, `401` without a known
  bearer token (when tokens or a policy are configured), `403` for a camera outside the identity's
  grant (the gRPC API's `StreamFrames` grant and camera prefixes), `503` at `max_sessions`.
- DELETE on a session URL: `200`; `404` for a session that does not exist (or another identity's).
- PATCH on a session URL: `405` (neither trickle ICE nor ICE restarts are supported, as the RFC says
  such a server answers); OPTIONS anywhere: `204` with `Accept-Post: application/sdp` and CORS headers.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

from aiohttp import web

from anpr.domain import InvalidFrame
from anpr.ingest.camera_ids import check_camera_id
from anpr.security import AccessControl, Rpc
from anpr.whip.sessions import OfferError, WhipSessions

log = logging.getLogger(__name__)

SDP = "application/sdp"
SESSION_PATH = "/whip/sessions/{session_id}"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "OPTIONS, POST, DELETE, PATCH",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Accept-Post",
}


class WhipEndpoint:
    def __init__(
        self,
        sessions: WhipSessions,
        access: AccessControl,
        max_camera_id_length: int,
        accepting: Callable[[], bool],  # whether the server takes frames now
    ) -> None:
        self.sessions = sessions
        self.access = access
        self.max_camera_id_length = max_camera_id_length
        self.accepting = accepting
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.app = web.Application(client_max_size=sessions.settings.max_offer_bytes, middlewares=[_cors])
        self.app.add_routes(
            [
                web.post("/whip/{camera_id}", self.post),
                web.delete(SESSION_PATH, self.delete),
                web.patch(SESSION_PATH, self.patch),
                web.options("/{tail:.*}", self.options),
            ]
        )

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)  # URLs hold camera ids: not logged
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=tls)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("WHIP listening on %s:%d (%s)", host, self.port, "HTTPS" if tls else "HTTP")
        return self.port

    async def stop(self) -> None:
        await self.sessions.close()
        if self._runner:
            await self._runner.cleanup()

    def _grant(self, request: web.Request):
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        grant = self.access.grant_for(token, [])
        if grant is None or Rpc.STREAM_FRAMES not in grant.rpcs:
            self.access.denied += 1
        if grant is None:
            raise web.HTTPUnauthorized(
                text="a known bearer token is required\n", headers={"WWW-Authenticate": "Bearer"}
            )
        if Rpc.STREAM_FRAMES not in grant.rpcs:
            raise web.HTTPForbidden(text="this identity may not submit frames\n")
        return grant

    async def post(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        camera_id = request.match_info["camera_id"]
        try:
            check_camera_id(camera_id, self.max_camera_id_length)
        except InvalidFrame as error:
            raise web.HTTPBadRequest(text=f"{error}\n") from None
        if not grant.permits_camera(camera_id):
            raise web.HTTPForbidden(text="this identity may not submit frames for this camera\n")
        if request.content_type != SDP:
            raise web.HTTPUnsupportedMediaType(text=f"the offer must be {SDP}\n", headers={"Accept-Post": SDP})
        if not self.accepting():
            raise web.HTTPServiceUnavailable(text="not ready or draining\n", headers={"Retry-After": "5"})
        if self.sessions.full:
            raise web.HTTPServiceUnavailable(
                text=f"this server takes at most {self.sessions.settings.max_sessions} WHIP sessions\n",
                headers={"Retry-After": "10"},
            )
        try:
            offer = (await request.read()).decode("utf-8")
        except UnicodeDecodeError:
            raise web.HTTPBadRequest(text="the offer is not UTF-8 text\n") from None
        try:
            session, answer = await self.sessions.start(camera_id, grant.identity, offer)
        except OfferError as error:
            raise web.HTTPBadRequest(text=f"{error}\n") from None
        location = SESSION_PATH.format(session_id=session.id)
        return web.Response(status=201, body=answer.encode(), content_type=SDP, headers={"Location": location})

    def _own_session(self, request: web.Request) -> str:
        grant = self._grant(request)
        session = self.sessions.get(request.match_info["session_id"])
        if session is None or (self.access.enabled and session.identity != grant.identity):
            raise web.HTTPNotFound(text="no such WHIP session\n")
        return session.id

    async def delete(self, request: web.Request) -> web.Response:
        await self.sessions.end(self._own_session(request), "deleted")
        return web.Response(status=200)

    async def patch(self, request: web.Request) -> web.Response:
        self._own_session(request)
        raise web.HTTPMethodNotAllowed(
            "PATCH", ["DELETE", "OPTIONS"], text="neither trickle ICE nor ICE restarts are supported\n"
        )

    async def options(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"Accept-Post": SDP, "Allow": "OPTIONS, POST, DELETE, PATCH"})


@web.middleware
async def _cors(request: web.Request, handler) -> web.StreamResponse:
    """CORS headers on every answer, errors included, so browsers can publish from other origins."""
    try:
        response = await handler(request)
    except web.HTTPException as error:
        error.headers.update(CORS)
        raise
    response.headers.update(CORS)
    return response
