"""Generated gRPC code for anpr.v1 (from proto/anpr/api/v1/anpr.proto; do not edit)."""
