"""Running the plate models: backends (ONNX Runtime in-process; Triton in the server) and the pipeline."""

from anpr.inference.onnxruntime_models import OnnxRuntimeModels
from anpr.inference.pipeline import PlateModels, PlateRead, read_plates

__all__ = ["OnnxRuntimeModels", "PlateModels", "PlateRead", "read_plates"]
