"""The attribute catalogue of SynthPortrait: classes, variants and palettes.

Variant 0 of every class is "none" (bald for hair). Style indices are stable: they are stored in
params.json files and in the held-out split of the model issue, so append, never reorder.
"""
from __future__ import annotations

# Mask channels, in order. They partition every pixel (sum to 1). `face` is all visible skin
# (face, ears, neck); `clothes` is the shirt on the shoulders.
MASK_CLASSES = ("background", "face", "clothes", "hair", "hat", "glasses", "beard")
# each mask class's channel
CLS = {name: i for i, name in enumerate(MASK_CLASSES)}
ATTRIBUTE_CLASSES = ("hair", "hat", "glasses", "beard")

HAIR_STYLES = (
    "bald", "buzz", "short", "side_part", "bangs", "bob", "long_straight", "long_wavy",
    "afro", "ponytail", "bun", "mohawk", "pixie", "curly_short",
)
HAT_STYLES = ("none", "beanie", "cap", "brimmed", "beret", "headband", "bucket")
GLASSES_STYLES = ("none", "round", "rectangular", "aviator", "cat_eye", "rimless")
BEARD_STYLES = ("none", "stubble", "moustache", "goatee", "chin_strap", "full")

STYLES = {"hair": HAIR_STYLES, "hat": HAT_STYLES, "glasses": GLASSES_STYLES, "beard": BEARD_STYLES}

# Linear-ish sRGB in [0, 1].
HAIR_COLOURS = (
    ("black", (0.06, 0.05, 0.05)),
    ("dark_brown", (0.20, 0.12, 0.07)),
    ("brown", (0.36, 0.22, 0.12)),
    ("light_brown", (0.55, 0.38, 0.22)),
    ("auburn", (0.50, 0.18, 0.08)),
    ("ginger", (0.80, 0.40, 0.15)),
    ("blonde", (0.90, 0.76, 0.45)),
    ("platinum", (0.93, 0.90, 0.80)),
    ("grey", (0.62, 0.62, 0.64)),
    ("white", (0.92, 0.92, 0.93)),
    ("blue", (0.15, 0.30, 0.75)),
    ("pink", (0.92, 0.45, 0.65)),
)
NATURAL_HAIR_COLOURS = 10  # the first ten; beards only take these

# Skin tones from very light to very dark (interpolated continuously between neighbours).
SKIN_TONES = (
    (0.98, 0.85, 0.76), (0.94, 0.78, 0.66), (0.88, 0.68, 0.54), (0.78, 0.57, 0.42),
    (0.66, 0.45, 0.31), (0.52, 0.34, 0.23), (0.38, 0.24, 0.16), (0.26, 0.16, 0.11),
)

IRIS_COLOURS = (
    (0.30, 0.18, 0.08), (0.15, 0.09, 0.05), (0.25, 0.45, 0.70), (0.30, 0.55, 0.35),
    (0.50, 0.45, 0.30), (0.45, 0.50, 0.55),
)

HAT_COLOURS = (
    (0.80, 0.12, 0.12), (0.10, 0.20, 0.55), (0.12, 0.40, 0.20), (0.90, 0.75, 0.15),
    (0.15, 0.15, 0.17), (0.92, 0.92, 0.90), (0.55, 0.35, 0.20), (0.55, 0.20, 0.60),
)
HAT_PATTERNS = ("solid", "stripes", "checks")

FRAME_COLOURS = (
    (0.05, 0.05, 0.05), (0.45, 0.28, 0.12), (0.75, 0.62, 0.30), (0.70, 0.70, 0.72),
    (0.60, 0.10, 0.12), (0.10, 0.25, 0.55),
)

CLOTHES_COLOURS = (
    (0.20, 0.30, 0.55), (0.80, 0.80, 0.82), (0.15, 0.15, 0.17), (0.55, 0.15, 0.18),
    (0.25, 0.45, 0.30), (0.85, 0.60, 0.25), (0.45, 0.40, 0.55), (0.65, 0.55, 0.45),
)

# Attribute combinations never rendered for training (the held-out split, docs/benchmark.md): (class, style
# name, palette index). The palette is HAIR_COLOURS for hair, the main colour of HAT_COLOURS for
# hats and FRAME_COLOURS for glasses; a sample's palette entry is the one nearest its (jittered)
# colour. Training data re-colours such a sample with the next palette entry (data/synth_data.py);
# the benchmark renders exactly these combinations as its held-out-combination cases.
HELD_OUT_COMBINATIONS = (
    ("hair", "bob", 11),          # pink bob
    ("hair", "afro", 6),          # blonde afro
    ("hair", "long_wavy", 10),    # blue long wavy hair
    ("hair", "mohawk", 5),        # ginger mohawk
    ("hat", "beanie", 3),         # yellow beanie
    ("hat", "cap", 7),            # purple cap
    ("glasses", "round", 4),      # red round frames
    ("glasses", "aviator", 5),    # blue aviators
)
