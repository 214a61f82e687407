"""Running the plate models: the backend interface, its implementations (ONNX Runtime in-process,
Triton over gRPC, none), the supervised local Triton, and the pipeline around them."""
