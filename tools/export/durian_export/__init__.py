"""durian's Python half: SynthPortrait data, training and ONNX export."""

__version__ = "0.1.0"
