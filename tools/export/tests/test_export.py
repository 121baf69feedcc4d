"""Export of every graph with parity, the manifest schema, and the whole sampling loop over ONNX."""
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from test_model import TINY

from durian_export.components import Durian
from durian_export.config import load_config
from durian_export.export_onnx import export_model
from durian_export.manifest import validate_manifest, verify_model_dir
from durian_export.parity import loop_parity
from durian_export.schedulers import DDIMSampler, NoiseSchedule


def _tiny_model():
    """The tiny model, seeded, with its zero-initialised outputs (conv_out, temporal out, pose guider
    out) drawn at random: zeros would make parity trivial."""
    torch.manual_seed(0)
    model = Durian(load_config(TINY))
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().max() == 0:
                p.normal_(0, 0.05)
    return model


def _tiny_run(tmp_path, model):
    """A run directory holding `model` as trained through stage 2 (what export reads)."""
    from durian_export.checkpoint import save_checkpoint
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run / "ckpt.pt", {"config": model.cfg.to_json(), "stage": "stage2", "model": model.state_dict(),
                                      "progress": {"vae": 1, "parser": 1, "stage1": 1, "stage2": 1}})
    return run


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _tiny_model()
    out = tmp_path_factory.mktemp("model") / "tiny"
    report = export_model(model, out, "tiny")
    return model, out, report


def test_every_graph_matches_pytorch(exported):
    _, out, report = exported
    assert set(report["graphs"]) == {"vae_encoder", "vae_decoder", "prnet", "arnet", "pose_guider", "unet", "parser"}
    for graph, r in report["graphs"].items():
        assert r["max_relative_error"] <= 1e-4, (graph, r)


def test_manifest_validates_and_hashes_match(exported):
    _, out, _ = exported
    manifest = json.loads((out / "manifest.json").read_text())
    validate_manifest(manifest)
    assert set(verify_model_dir(out).values()) == {"ok"}
    sched = json.loads((out / "scheduler_config.json").read_text())
    assert sched["_class_name"] == "DDIMScheduler" and sched["num_train_timesteps"] == 1000
    unet_inputs = [t["name"] for t in manifest["graphs"]["unet"]["inputs"]]
    assert unet_inputs[:3] == ["sample", "timestep", "pose_features"]
    assert manifest["graphs"]["unet"]["outputs"][0]["name"] == "out_sample"
    broken = {**manifest, "graphs": {k: v for k, v in manifest["graphs"].items() if k != "unet"}}
    with pytest.raises(ValueError, match="unet"):
        validate_manifest(broken)


def _unet_feeds(model, manifest, B, F, A, G, timesteps):
    """Random UNet graph feeds of these sizes (reference hidden states of the manifest's shapes)."""
    a = model.cfg.model
    h = a.image_size // 8
    g = np.random.default_rng(0)
    hidden = {t["name"]: t for t in manifest["graphs"]["prnet"]["outputs"]}
    feeds = {"sample": g.standard_normal((B, 4, F, h, h)), "timestep": np.array(timesteps),
             "pose_features": g.standard_normal((B, a.unet_channels[0], F, h, h)) * 0.1,
             "members": np.ones((B, G, A)), "weights": np.ones((B, F, G)),
             "portrait_embedding": g.standard_normal((B, a.embed_dim)),
             "attr_embedding": g.standard_normal((B, A, a.embed_dim))}
    for i in range(manifest["reference_layers"]):
        n, c = hidden[f"hidden_{i}"]["shape"][1:]
        feeds[f"portrait_hidden_{i}"] = g.standard_normal((B, n, c))
        feeds[f"attr_hidden_{i}"] = g.standard_normal((B, A, n, c))
    return {k: v.astype(np.float32) for k, v in feeds.items()}


@torch.no_grad()
def _torch_unet(model, manifest, feeds):
    t = {k: torch.from_numpy(v) for k, v in feeds.items()}
    L = manifest["reference_layers"]
    return model.unet(t["sample"], t["timestep"], t["pose_features"], [t[f"portrait_hidden_{i}"] for i in range(L)],
                      [t[f"attr_hidden_{i}"] for i in range(L)], t["members"], t["weights"],
                      t["portrait_embedding"], t["attr_embedding"]).numpy()


def test_unet_graph_takes_any_frames_attributes_and_groups(exported):
    model, out, _ = exported
    manifest = json.loads((out / "manifest.json").read_text())
    sess = ort.InferenceSession(str(out / "unet.onnx"), providers=["CPUExecutionProvider"])
    B, F = 2, 5
    feeds = _unet_feeds(model, manifest, B, F, 3, 1, [10.0, 900.0])
    (out_sample,) = sess.run(None, feeds)
    h = model.cfg.model.image_size // 8
    assert out_sample.shape == (B, 4, F, h, h)
    np.testing.assert_allclose(out_sample, _torch_unet(model, manifest, feeds), rtol=1e-3, atol=1e-4)


def test_sampling_loop_over_onnx_matches_pytorch(exported):
    model, out, _ = exported
    r = loop_parity(model, out, frames=3, steps=3)
    assert r["psnr_db"] >= 40, r


def test_windows_in_one_call_give_the_same_frames(exported):
    """The sampler's windows_per_call (the PyTorch side of the CLI's windowsPerCall) only regroups
    batch entries: 5 frames in windows of 2 overlapping by 1 are 4 windows, in groups of 3 (a
    remainder of 1) or all 4 at once."""
    from durian_export.sample import sample_video, transfer_case

    model = exported[0].eval()
    case = transfer_case(model.cfg.hold_out_seed, 0, model.cfg.model.image_size, 5, "hair")
    kw = dict(steps=2, window=2, overlap=1, seed=3)
    with torch.no_grad():
        one = sample_video(model, case, **kw)
        for k in (3, 4):
            assert (sample_video(model, case, windows_per_call=k, **kw) - one).abs().max() < 1e-5
        # not the same function: a wrong grouping would move frames by far more
        assert (sample_video(model, case, **{**kw, "seed": 4}) - one).abs().max() > 1e-3


def test_fused_attention_in_eval_samples_the_same_frames(exported):
    """bench_sampler's sdpa/compile modes: eval attention through F.scaled_dot_product_attention is
    the exported explicit softmax's function (the reference attention's −1e4 bias included)."""
    from durian_export.models.attention import fused_attention_in_eval
    from durian_export.sample import sample_video, transfer_case

    model = exported[0].eval()
    case = transfer_case(model.cfg.hold_out_seed, 0, model.cfg.model.image_size, 3, "hair")
    with torch.no_grad():
        plain = sample_video(model, case, steps=2, window=2, overlap=1)
        with fused_attention_in_eval():
            fused = sample_video(model, case, steps=2, window=2, overlap=1)
        again = sample_video(model, case, steps=2, window=2, overlap=1)
    assert (fused - plain).abs().max() < 1e-4
    assert torch.equal(again, plain)  # the context ends with the block


def test_ddim_timesteps_and_exact_inversion():
    sched = NoiseSchedule()
    ddim = DDIMSampler(sched, 20)
    assert ddim.timesteps[:3] == [951, 901, 851] and ddim.timesteps[-1] == 1
    x0 = torch.randn(1, 4, 2, 4, 4)
    noise = torch.randn_like(x0)
    t = torch.tensor([ddim.timesteps[0]])
    xt = sched.add_noise(x0, noise, t)
    _, pred_x0 = ddim.step(noise, ddim.timesteps[0], xt)
    torch.testing.assert_close(pred_x0, x0, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="num_inference_steps"):
        DDIMSampler(sched, 0)


def test_fp16_weight_storage_halves_the_files_and_keeps_parity(exported, tmp_path):
    model, out32, _ = exported
    out16 = tmp_path / "tiny16"
    report = export_model(model, out16, "tiny16", fp16=True)
    for graph, r in report["graphs"].items():
        assert r["max_relative_error"] <= 5e-3, (graph, r)
        assert r["bytes"] < 0.6 * (out32 / f"{graph}.onnx").stat().st_size
    manifest = json.loads((out16 / "manifest.json").read_text())
    validate_manifest(manifest)
    assert manifest["weights_dtype"] == "float16"
    assert manifest["graphs"]["unet"]["inputs"][0]["dtype"] == "float32"  # I/O stays float32
    assert loop_parity(model, out16, frames=2, steps=2)["psnr_db"] >= 40


def test_half_variant_converts_the_unet_and_refuses_a_bad_fit(tmp_path):
    from durian_export.half import convert
    from durian_export.manifest import sha256_file

    src = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "onnx-tiny"
    with pytest.raises(SystemExit, match="max-error"):
        convert(src, tmp_path / "strict", ["unet"], max_error=1e-9)
    assert not (tmp_path / "strict").exists() and not (tmp_path / "strict.partial").exists()
    report = convert(src, tmp_path / "half", ["unet"])
    assert report["graphs"]["unet"]["max_relative_error"] < 0.01
    manifest = json.loads((tmp_path / "half" / "manifest.json").read_text())
    unet = manifest["graphs"]["unet"]
    assert unet["compute_dtype"] == "float16" and unet["sha256"] == sha256_file(tmp_path / "half" / unet["file"])
    assert [i["dtype"] for i in unet["inputs"]] == ["float32"] * len(unet["inputs"])  # the CLI feeds it unchanged
    assert "compute_dtype" not in manifest["graphs"]["vae_decoder"]


def test_temporal_off_exports_a_unet_without_its_temporal_layers(tmp_path):
    """export --temporal-off: the diagnostic model that measures what stage 2 adds through the CLI.
    Only the UNet differs from the plain export; in it every temporal output projection is zero."""
    import onnx
    from onnx import numpy_helper

    from durian_export.export import main as export_main
    run = _tiny_run(tmp_path, _tiny_model())
    export_main(["--checkpoint", str(run), "--out", str(tmp_path / "on"), "--no-parity"])
    export_main(["--checkpoint", str(run), "--out", str(tmp_path / "off"), "--no-parity", "--temporal-off"])
    on, off = tmp_path / "on", tmp_path / "off"
    assert json.loads((off / "manifest.json").read_text())["name"] == "off (temporal layers off)"
    for graph in ("vae_encoder", "vae_decoder", "prnet", "arnet", "pose_guider", "parser"):
        assert (on / f"{graph}.onnx").read_bytes() == (off / f"{graph}.onnx").read_bytes(), graph

    def temporal_out(path):
        init = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
        return {k: v for k, v in init.items() if "temporal.attn.to_out" in k}

    # the exporter may fold a zero bias away, so the off graph can hold fewer of them
    t_on, t_off = temporal_out(on / "unet.onnx"), temporal_out(off / "unet.onnx")
    assert t_on and t_off and set(t_off) <= set(t_on)
    assert all(np.abs(v).max() > 0 for v in t_on.values())
    assert all(np.abs(v).max() == 0 for v in t_off.values())
    assert (on / "unet.onnx").read_bytes() != (off / "unet.onnx").read_bytes()


def test_temporal_min_t_gates_the_temporal_layers_by_timestep_in_the_graph(tmp_path):
    """export --temporal-min-t T: below T the UNet graph denoises each frame as with the temporal
    layers off, from T on as with them on (the gate is in the graph, so the CLI follows it)."""
    from durian_export.export import main as export_main
    from durian_export.temporal_check import temporal_off
    model = _tiny_model().eval()
    run = _tiny_run(tmp_path, model)
    export_main(["--checkpoint", str(run), "--out", str(tmp_path / "gated"), "--no-parity", "--temporal-min-t", "500"])
    manifest = json.loads((tmp_path / "gated" / "manifest.json").read_text())
    sess = ort.InferenceSession(str(tmp_path / "gated" / "unet.onnx"), providers=["CPUExecutionProvider"])
    feeds = _unet_feeds(model, manifest, 3, 4, 1, 1, [499.0, 500.0, 900.0])
    (got,) = sess.run(None, feeds)
    on = _torch_unet(model, manifest, feeds)
    with temporal_off(model):
        off = _torch_unet(model, manifest, feeds)
    assert np.abs(on[0] - off[0]).max() > 1e-3  # the layers matter in this model
    np.testing.assert_allclose(got[0], off[0], rtol=1e-3, atol=1e-4)   # t = 499 < T: off
    np.testing.assert_allclose(got[1:], on[1:], rtol=1e-3, atol=1e-4)  # t >= T: on
    # the PyTorch model gated the same way agrees
    model.cfg.model.temporal_min_t = 500
    np.testing.assert_allclose(_torch_unet(model, manifest, feeds), got, rtol=1e-3, atol=1e-4)
