"""python -m durian_export.synth.check_devices: the same clips rendered on CPU and on CUDA agree."""
from __future__ import annotations

from .params import sample_attributes, sample_identities, sample_motion
from .render import render


def main() -> None:
    idx = list(range(8))
    args = (sample_identities(5, idx), sample_attributes(5, idx), sample_motion(5, idx, 4))
    cpu = render(*args, size=128, device="cpu")
    gpu = render(*args, size=128, device="cuda")
    for name in ("rgb", "masks", "keypoints"):
        a, b = getattr(cpu, name), getattr(gpu, name).cpu()
        diff = (a - b).abs()
        print(f"{name}: max |cpu - cuda| = {diff.max():.2e}, mean = {diff.mean():.2e}")


if __name__ == "__main__":
    main()
