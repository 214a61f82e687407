"""anpr: city-scale number plate recognition served through NVIDIA Triton."""

__version__ = "0.1.0"
