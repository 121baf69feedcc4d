"""The held-out attribute combinations (issue 6): training data never contains them, the benchmark
can render them, and removing them touches nothing else."""
import torch

from durian_export.synth import catalog, sample_attributes
from durian_export.synth.params import held_out_mask, palette_index, with_combination, without_held_out


def test_every_combination_is_detected_and_removed():
    base = sample_attributes(7, range(len(catalog.HELD_OUT_COMBINATIONS)), probs={c: 1.0 for c in catalog.ATTRIBUTE_CLASSES})
    forced = [with_combination(base[[n]], cls, style, colour)
              for n, (cls, style, colour) in enumerate(catalog.HELD_OUT_COMBINATIONS)]
    for (cls, style, colour), a in zip(catalog.HELD_OUT_COMBINATIONS, forced):
        assert held_out_mask(a).all(), (cls, style, colour)
        clean = without_held_out(a)
        assert not held_out_mask(clean).any()
        assert int(clean.style(cls)) == catalog.STYLES[cls].index(style)  # same style, another colour
        assert int(palette_index(clean, cls)) != colour


def test_removal_leaves_other_samples_unchanged():
    attrs = sample_attributes(3, range(400), probs={c: 1.0 for c in catalog.ATTRIBUTE_CLASSES})
    hit = held_out_mask(attrs)
    clean = without_held_out(attrs)
    assert not held_out_mask(clean).any()
    keep = ~hit
    for f in ("hair_colour", "hat_colour", "glasses", "hair_style", "hat_style", "beard"):
        assert torch.equal(getattr(clean, f)[keep], getattr(attrs, f)[keep]), f


def test_training_batches_never_render_a_held_out_combination(monkeypatch):
    from durian_export.config import load_config
    from durian_export.data import synth_data

    seen = []
    real = synth_data.render

    def spy(ident, attrs, motion, **kw):
        seen.append(held_out_mask(attrs))
        return real(ident, attrs, motion, **kw)

    monkeypatch.setattr(synth_data, "render", spy)
    cfg = load_config("configs/tiny.json", [])
    maker = synth_data.SynthBatchMaker(cfg, "cpu")
    # force held-out combinations into the sampler's output: every hair becomes a pink bob
    orig = synth_data.sample_attributes
    monkeypatch.setattr(synth_data, "sample_attributes",
                        lambda *a, **k: with_combination(orig(*a, **k), "hair", "bob", 11))
    maker.batch(0, 0, 2, 2)
    maker.images(0, 0, 2)
    assert seen and not any(m.any() for m in seen)
