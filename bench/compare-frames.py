"""Two directories of PNG frames (`durian animate -o DIR/`) of one job compared pixel by pixel, 8-bit:
PSNR (the project's convention, durian_export.metrics), the largest and mean difference, and how
many pixel values differ.

    tools/export/.venv/bin/python bench/compare-frames.py DIR_A DIR_B
"""
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools" / "export"))
from durian_export.metrics import psnr  # noqa: E402

a, b = Path(sys.argv[1]), Path(sys.argv[2])
names = sorted(p.name for p in a.glob('*.png'))
x = np.stack([np.asarray(Image.open(a / n).convert('RGB'), np.float64) for n in names])
y = np.stack([np.asarray(Image.open(b / n).convert('RGB'), np.float64) for n in names])
d = np.abs(x - y)
db = psnr(*(torch.from_numpy(v / 255).permute(0, 3, 1, 2) for v in (x, y)))
print(f'{len(names)} frames: PSNR {db:.1f} dB, max |Δ| {d.max():.0f}/255, mean |Δ| {d.mean():.3f}/255, pixels differing {(d > 0).mean() * 100:.1f} %')
