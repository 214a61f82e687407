"""Training for anpr's plate models: synthetic data, PyTorch recipes, ONNX export.

Only the trainers and the exporter import torch (the optional `train` extra); the synthetic
generator is numpy/OpenCV/Pillow so the server's demo and tests can use it too.
"""
