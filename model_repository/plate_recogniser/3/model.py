"""Triton Python-backend entry point (CPU): the shared ONNX Runtime model of the anpr package."""

from anpr.inference.triton_python_model import TritonPythonModel  # noqa: F401
