"""Triton Python-backend entry point (CPU): the anpr package's Triton-side pipeline (DALI + BLS)."""

from anpr.inference.triton_pipeline_model import TritonPythonModel  # noqa: F401
