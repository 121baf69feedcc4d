"""SynthPortrait: a procedural portrait-video renderer with exact ground truth.

    ident = sample_identities(seed, range(4))
    attrs = sample_attributes(seed, range(4))
    motion = sample_motion(seed, range(4), frames=16)
    out = render(ident, attrs, motion, size=256)    # out.rgb [4, 16, 3, 256, 256] ...

Transfer ground truth is a plain render of mixed parameters: render(ident[A], attrs[B], motion[C]).
"""
from .catalog import ATTRIBUTE_CLASSES, MASK_CLASSES, STYLES
from .params import Attributes, Identity, Motion, sample_attributes, sample_identities, sample_motion, with_styles
from .render import Frames, render

__all__ = ["ATTRIBUTE_CLASSES", "MASK_CLASSES", "STYLES", "Attributes", "Identity", "Motion", "Frames",
           "render", "sample_attributes", "sample_identities", "sample_motion", "with_styles"]
