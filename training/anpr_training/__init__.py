"""Training the plate models with PyTorch (the `train` extra): data sets, recipes, checkpoints, ONNX
export. Registers `anpr models train` and `anpr models export`."""
