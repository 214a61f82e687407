"""Turning what cameras send into frames the pipeline can use: validation and decoding."""
