"""Training samples: from SynthPortrait on the fly, or from real clips on disk."""
from .synth_data import SynthBatchMaker, TrainBatch

__all__ = ["SynthBatchMaker", "TrainBatch"]
