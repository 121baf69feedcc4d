"""Issue 18, the VAE "droplet": the shipped GroupNorm decoder builds one activation spike at the
left eye that dominates its GroupNorm statistics and draws a coloured blob there. `vae_health`
catches it on held-out renders; `vae_norm="pixel"` is the architecture without map-wide statistics.

The shipped checkpoint (checkpoints/base) is checked by the same function: while it holds the old
GroupNorm VAE the check must fail (strict xfail, the bug documented); once a VAE retrained with
`model.vae_norm=pixel` replaces it, the xfail no longer applies and the check must pass."""
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from test_model import TINY, tiny_cfg

from durian_export.checkpoint import checkpoint_exists, load_model
from durian_export.config import ModelArgs, load_config
from durian_export.export_onnx import export_graph
from durian_export.models import VAE
from durian_export.models.blocks import PixelNorm, norm
from durian_export.vae_health import PSNR_TARGET, held_out_renders, vae_health

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "checkpoints" / "base"


def test_pixel_norm_statistics_are_local_where_group_norm_lets_one_spot_rescale_the_map():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 8, 32, 32, generator=g)
    spiked = x.clone()
    spiked[0, 0, 16, 16] = 300.0  # one spot, ~300× the median, in one channel
    far = (slice(None), slice(None), slice(0, 8), slice(0, 8))  # pixels far from the spot
    gn, pn = norm(8, 4, "group"), norm(8, 4, "pixel")
    assert isinstance(pn, PixelNorm)
    with torch.no_grad():
        # GroupNorm: the spot's group is divided by a variance the spot made ~11× too large
        shrink = gn(spiked)[far][:, :2].std() / gn(x)[far][:, :2].std()
        assert shrink < 0.5
        # PixelNorm: nothing outside the spot's own position moves
        torch.testing.assert_close(pn(spiked)[far], pn(x)[far])
        assert torch.equal(pn(spiked)[0, :, 16, 15], pn(x)[0, :, 16, 15])
        y = pn(x)
        torch.testing.assert_close(y.mean(1), torch.zeros(1, 32, 32), atol=1e-5, rtol=0)
        torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(1, 32, 32), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="Unknown norm"):
        norm(8, 4, "batch")


def test_vae_norm_default_keeps_the_shipped_architecture_and_pixel_has_no_group_norm():
    assert ModelArgs().vae_norm == "group"
    cfg = load_config(TINY, ["model.vae_norm=pixel"])
    vae = VAE(cfg.model)
    kinds = {type(m).__name__ for m in vae.modules()}
    assert "PixelNorm" in kinds and "GroupNorm" not in kinds
    assert "GroupNorm" in {type(m).__name__ for m in VAE(load_config(TINY).model).modules()}


def test_pixel_norm_vae_exports_to_onnx_with_parity(tmp_path):
    torch.manual_seed(0)
    cfg = load_config(TINY, ["model.vae_norm=pixel"])
    vae = VAE(cfg.model).eval()
    with torch.no_grad():
        for p in vae.parameters():  # not the identity affine: parity must see the weights
            p.add_(0.05 * torch.randn_like(p))
    z = torch.randn(2, 4, 8, 8)
    path = tmp_path / "vae_decoder.onnx"
    export_graph(vae.decoder, {"latent": z}, ["latent"], ["sample_out"], {"latent": {0: "batch"}}, path)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"latent": z.numpy()})[0]
    with torch.no_grad():
        want = vae.decoder(z).numpy()
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


@pytest.fixture(scope="module")
def shipped():
    if not checkpoint_exists(SHIPPED / "ckpt.pt"):
        pytest.skip("no shipped checkpoint")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    model = load_model(SHIPPED).eval()
    renders = held_out_renders(model.cfg.hold_out_seed, n=6, size=model.cfg.model.image_size)
    return model, vae_health(model.vae, renders)


def _shipped_norm() -> str:
    from durian_export.checkpoint import load_checkpoint

    return load_checkpoint(SHIPPED / "ckpt.pt")["config"]["model"].get("vae_norm", "group")


OLD = checkpoint_exists(SHIPPED / "ckpt.pt") and _shipped_norm() == "group"


@pytest.mark.xfail(OLD, strict=True, reason="issue 18: the shipped GroupNorm VAE draws a droplet in the left eye")
def test_shipped_vae_has_no_activation_spike_and_symmetric_eyes(shipped):
    _, h = shipped
    assert h["peak_ok"], f"activation peak {h['peak_ratio']:.0f}× the median in {h['peak_layer']} at {h['peak_at']}"
    assert h["eyes_ok"], f"eye L1 asymmetry {h['eye_asymmetry']:.2f}, left − right {h['eye_diff']}"


@pytest.mark.xfail(OLD, strict=True, reason="issue 18: the shipped VAE round trip is ~25 dB on held-out renders")
def test_shipped_vae_round_trip_psnr_reaches_the_target(shipped):
    _, h = shipped
    assert h["psnr"] >= PSNR_TARGET, f"round trip {h['psnr']:.2f} dB < {PSNR_TARGET} dB"


@pytest.mark.skipif(not OLD, reason="documents the old GroupNorm VAE only")
def test_the_old_vae_droplet_is_in_the_left_eye(shipped):
    """What the xfail above stands for, measured: the spike is in the left eye of every render."""
    _, h = shipped
    assert h["peak_ratio"] > 150 and h["peak_at"]["region"] == "left_eye"
    assert h["peak_in_left_eye_fraction"] == 1.0
    assert h["eye_diff"]["low"] > 0  # the left eye is worse, beyond bootstrap noise


RETRAINED = [ROOT / "checkpoints" / "vae-pixel", ROOT / "checkpoints" / "vae-c16"]


@pytest.mark.parametrize("path", RETRAINED, ids=lambda p: p.name)
def test_the_retrained_pixel_norm_vaes_have_no_spike_and_symmetric_eyes(path):
    """The VAEs trained with vae_norm "pixel" on the same held-out renders as the shipped one: no
    spike, both eyes alike. checkpoints/vae-pixel: the first (4 latent channels, 826 steps, 27.3 dB);
    checkpoints/vae-c16: the one to build on (16 channels, kl_weight 1e-8, 4,098 steps; 32.0 dB on
    validation renders, 30.6 dB on these people), so the 32 dB target is not asserted here.
    16 renders: per render the two eyes' errors differ by up to ±0.04 either way (glasses, lens
    glints), and on the first 6 alone vae-c16's mean difference was +0.013 [+0.005, +0.027]: too
    few renders to tell a one-sided defect from which people were drawn."""
    if not checkpoint_exists(path / "ckpt.pt"):
        pytest.skip(f"no checkpoint at {path}")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    model = load_model(path).eval()
    assert model.cfg.model.vae_norm == "pixel"
    h = vae_health(model.vae, held_out_renders(model.cfg.hold_out_seed, n=16, size=model.cfg.model.image_size))
    assert h["peak_ok"], f"activation peak {h['peak_ratio']:.0f}× the median in {h['peak_layer']} at {h['peak_at']}"
    assert h["eyes_ok"], f"eye L1 asymmetry {h['eye_asymmetry']:.2f}, left − right {h['eye_diff']}"
    assert h["eye_diff"]["low"] <= 0 <= h["eye_diff"]["high"], h["eye_diff"]
    assert h["peak_in_left_eye_fraction"] == 0.0


def test_latent_use_counts_the_channels_the_posterior_keeps_away_from_the_prior():
    """A real tiny VAE whose encoder output layer is set by hand: channel 0 at the prior (μ 0, σ 1, the
    posterior collapse the KL term causes), the others with σ e^-2 and a μ that follows the image. The
    report counts the others as in use, gives σ per channel and the KL of that posterior."""
    torch.manual_seed(0)
    vae = VAE(tiny_cfg("model.latent_channels=3").model).eval()
    conv = vae.encoder.conv_out  # 2C outputs: C means, then C log-variances
    with torch.no_grad():
        conv.bias.zero_()
        conv.weight[0].zero_()       # channel 0: μ 0
        conv.weight[3:].zero_()      # every log-variance constant: channel 0's 0 (σ 1), the others −4 (σ e^-2)
        conv.bias[4:] = -4.0
    renders = held_out_renders(1_000_000, n=2, size=64)
    latent = vae_health(vae, renders)["latent"]
    assert latent["channels"] == 3 and latent["active"] == 2
    assert latent["sigma"] == pytest.approx([1.0, np.exp(-2.0), np.exp(-2.0)], rel=1e-5)
    assert latent["mu_std"][0] == 0.0 and min(latent["mu_std"][1:]) > 0
    with torch.no_grad():
        mean, logvar = vae.encoder(renders.images * 2 - 1)
    assert latent["kl_nats"] == pytest.approx(float(vae.kl(mean, logvar)), rel=1e-5)


def test_vae_sheet_sets_each_render_beside_its_enlarged_hair_region(tmp_path):
    """vae_sheet: one row a VAE under the renders, each image followed by the 2× enlargement of its
    top-centre quarter; the command writes the sheet for real checkpoints."""
    from durian_export.train import main as train_main
    from durian_export.vae_sheet import LABEL, build_sheet, main, zoom

    x = torch.rand(2, 3, 64, 64)
    z = zoom(x)
    assert z.shape == x.shape
    assert torch.equal(z[..., ::2, ::2], x[..., 4:36, 16:48])
    sheet = build_sheet([x, x.flip(-1)], ["renders", "other"])
    assert sheet.size == (LABEL + 4 * 64, 2 * 64)
    pixels = np.asarray(sheet)
    assert np.abs(pixels[:64, LABEL + 64: LABEL + 128].astype(int)
                  - (z[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(int)).max() <= 1

    run = tmp_path / "run"
    train_main(["--config", str(TINY), "--stage", "vae", "--out", str(run), "--steps", "1", "--device", "cpu"])
    size = tiny_cfg().model.image_size
    main([str(tmp_path / "s.png"), str(run), str(run), "--names", "a,b", "--renders", "0,2", "--size", str(size)])
    from PIL import Image
    assert Image.open(tmp_path / "s.png").size == (LABEL + 4 * size, 3 * size)
    with pytest.raises(SystemExit, match="names"):
        main([str(tmp_path / "t.png"), str(run), "--names", "a,b"])
