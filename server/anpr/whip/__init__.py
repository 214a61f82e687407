"""WebRTC ingest: cameras publish video over WHIP (RFC 9725); see endpoint.py."""
