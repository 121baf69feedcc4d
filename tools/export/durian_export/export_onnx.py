"""The export half of `python -m durian_export.export` (export.py): one ONNX graph per component,
`manifest.json` (manifest.py, docs/architecture.md) and `scheduler_config.json`. Each graph is
checked against PyTorch as it is written (parity.py's `graph_parity`); the whole-loop check is
parity.py's `loop_parity`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .components import Durian
from .keypoint_image import GROUPS, SIGMA_PER_PIXEL_OF_256
from .manifest import write_manifest
from .parity import graph_parity
from .synth import catalog

OPSET = 18
# reference-graph hidden states are named hidden_<l>; the denoiser takes portrait_hidden_<l> / attr_hidden_<l>


class _Encoder(nn.Module):
    def __init__(self, m: Durian):
        super().__init__()
        self.enc = m.vae.encoder

    def forward(self, sample):
        return self.enc(sample)[0]


class _Reference(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, reference):
        hidden, pooled = self.net.forward_reference(reference)
        return (*hidden, pooled)


class _Unet(nn.Module):
    def __init__(self, m: Durian):
        super().__init__()
        self.unet = m.unet
        self.L = m.unet.num_ref_layers

    def forward(self, sample, timestep, pose_features, members, weights, portrait_embedding, attr_embedding, *hidden):
        L = self.L
        return self.unet(sample, timestep, pose_features, list(hidden[:L]), list(hidden[L:]), members, weights,
                         portrait_embedding, attr_embedding)


class _Parser(nn.Module):
    def __init__(self, m: Durian):
        super().__init__()
        self.parser = m.parser

    def forward(self, image):
        logits, _, kp = self.parser(image)
        return logits.softmax(1), kp


def vae_scale_factor(m: Durian) -> int:
    """Image pixels per latent pixel: the VAE halves the resolution between its channel levels."""
    return 2 ** (len(m.cfg.model.vae_channels) - 1)


def example_inputs(m: Durian, frames: int = 2, attrs: int = 2, groups: int = 2):
    """Named example inputs of every graph (shapes used for export and parity)."""
    a = m.cfg.model
    H = a.image_size
    h = H // vae_scale_factor(m)
    g = torch.Generator().manual_seed(0)
    def r(*s):
        return torch.randn(*s, generator=g)
    refs_in = a.latent_channels + (1 if a.mask_channel else 0)
    with torch.no_grad():
        hidden, pooled = m.prnet.forward_reference(r(1, refs_in, h, h))
    members = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])[:, :groups, :attrs]
    weights = torch.rand(1, frames, groups, generator=g)
    weights = weights / weights.sum(-1, keepdim=True)
    unet = {"sample": r(1, a.latent_channels, frames, h, h), "timestep": torch.tensor([501.0]),
            "pose_features": r(1, a.unet_channels[0], frames, h, h) * 0.1, "members": members, "weights": weights,
            "portrait_embedding": pooled, "attr_embedding": torch.stack([pooled] * attrs, 1) * 0.9}
    for i, t in enumerate(hidden):
        unet[f"portrait_hidden_{i}"] = t
    for i, t in enumerate(hidden):
        unet[f"attr_hidden_{i}"] = torch.stack([t, t * 0.5 + 0.1][:attrs], 1)
    return {
        "vae_encoder": {"sample": r(2, 3, H, H).clamp(-1, 1)},
        "vae_decoder": {"latent": r(2, a.latent_channels, h, h)},
        "prnet": {"reference": r(2, refs_in, h, h)},
        "arnet": {"reference": r(2, refs_in, h, h)},
        "pose_guider": {"pose_image": torch.rand(2, 3, H, H, generator=g)},
        "unet": unet,
        "parser": {"image": r(2, 3, H, H).clamp(-1, 1)},
    }


def _spec(m: Durian):
    """Per graph: module, output names, dynamic axes (symbolic names)."""
    L = m.unet.num_ref_layers
    hidden_out = [f"hidden_{i}" for i in range(L)]
    ref_axes = {"reference": {0: "batch"}, **{n: {0: "batch"} for n in hidden_out}, "embedding": {0: "batch"}}
    unet_axes = {"sample": {0: "batch", 2: "frames"}, "timestep": {0: "batch"},
                 "pose_features": {0: "batch", 2: "frames"}, "members": {0: "batch", 1: "groups", 2: "attributes"},
                 "weights": {0: "batch", 1: "frames", 2: "groups"}, "portrait_embedding": {0: "batch"},
                 "attr_embedding": {0: "batch", 1: "attributes"}, "out_sample": {0: "batch", 2: "frames"}}
    for i in range(L):
        unet_axes[f"portrait_hidden_{i}"] = {0: "batch"}
        unet_axes[f"attr_hidden_{i}"] = {0: "batch", 1: "attributes"}
    return {
        "vae_encoder": (_Encoder(m), ["latent_mean"], {"sample": {0: "batch"}, "latent_mean": {0: "batch"}}),
        "vae_decoder": (m.vae.decoder, ["sample_out"], {"latent": {0: "batch"}, "sample_out": {0: "batch"}}),
        "prnet": (_Reference(m.prnet), hidden_out + ["embedding"], ref_axes),
        "arnet": (_Reference(m.arnet), hidden_out + ["embedding"], ref_axes),
        "pose_guider": (m.pose_guider, ["pose_features"], {"pose_image": {0: "batch"}, "pose_features": {0: "batch"}}),
        "unet": (_Unet(m), ["out_sample"], unet_axes),
        "parser": (_Parser(m), ["masks", "keypoints"], {"image": {0: "batch"}, "masks": {0: "batch"}, "keypoints": {0: "batch"}}),
    }


def _unet_input_order(L: int) -> list[str]:
    return (["sample", "timestep", "pose_features", "members", "weights", "portrait_embedding", "attr_embedding"]
            + [f"portrait_hidden_{i}" for i in range(L)] + [f"attr_hidden_{i}" for i in range(L)])


def export_graph(module: nn.Module, inputs: dict[str, torch.Tensor], order: list[str], outputs: list[str],
                 axes: dict, path: Path, fp16: bool = False) -> None:
    module = module.eval()
    args = tuple(inputs[k] for k in order)
    torch.onnx.export(module, args, str(path), input_names=order, output_names=outputs, dynamic_axes=axes,
                      opset_version=OPSET, dynamo=False, do_constant_folding=True)
    if fp16:
        store_weights_fp16(path)


def store_weights_fp16(path: Path, min_elements: int = 16) -> None:
    """fp16 weight storage, fp32 compute: every float initializer of at least `min_elements` is
    stored as float16 and cast back to float32 by a Cast node at the top of the graph. Halves the
    file; I/O and arithmetic stay float32, so every execution provider runs it unchanged."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(path))
    g = m.graph
    keep, casts = [], []
    for init in g.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and int(np.prod(init.dims)) >= min_elements:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
            keep.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                          name=init.name + "_cast"))
        else:
            keep.append(init)
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.save(m, str(path))


def fix_static_output_dims(path: Path, outputs: list[str], ref: tuple, axes: dict) -> None:
    """NOTE: the TorchScript exporter leaves some static output dims symbolic (e.g. the token and
    channel axes of ReferenceNet hidden states). Write the concrete sizes into the graph, keeping
    only the declared dynamic axes symbolic, so the manifest states every static shape."""
    import onnx

    m = onnx.load(str(path))
    for out, value in zip(outputs, ref):
        info = next(o for o in m.graph.output if o.name == out)
        for i, d in enumerate(info.type.tensor_type.shape.dim):
            if i in axes.get(out, {}):
                d.dim_param = axes[out][i]
            else:
                d.dim_value = int(value.shape[i])
    onnx.save(m, str(path))


def face_template(size: int = 128, clips: int = 64) -> list[float]:
    """Mean 68 keypoints of still, frontal SynthPortrait frames, normalised to [0, 1]: where the model
    expects a face. The CLI aligns identity and attribute images to it (similarity transform)."""
    from .synth import render, sample_attributes, sample_identities, sample_motion

    idx = list(range(clips))
    out = render(sample_identities(4242, idx), sample_attributes(4242, idx), sample_motion(4242, idx, 1, preset="still"),
                 size=size)
    return [round(float(v), 5) for v in (out.keypoints[:, 0].mean(0) / size).reshape(-1)]


def export_model(model: Durian, out: Path, name: str, fp16: bool = False, parity: bool = True,
                 guidance_scale: float | None = None, eta: float | None = None,
                 noise_correlation: float | None = None) -> dict:
    """Writes every graph, manifest.json and scheduler_config.json; returns the parity report.
    `guidance_scale`, `eta`, `noise_correlation`: the model's sampling defaults in the manifest (None: the schema's default)."""
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval().float()
    L = model.unet.num_ref_layers
    ex = example_inputs(model)
    report: dict = {"graphs": {}}
    files = {}
    for graph, (module, outputs, axes) in _spec(model).items():
        inputs = ex[graph]
        order = _unet_input_order(L) if graph == "unet" else list(inputs)
        path = out / f"{graph}.onnx"
        export_graph(module, inputs, order, outputs, axes, path, fp16)
        files[graph] = path.name
        with torch.no_grad():
            ref = module.float()(*(inputs[k] for k in order))
        ref = ref if isinstance(ref, tuple) else (ref,)
        fix_static_output_dims(path, outputs, ref, axes)
        if parity:
            report["graphs"][graph] = graph_parity(path, {k: inputs[k].numpy() for k in order}, [r.numpy() for r in ref])
    a = model.cfg.model
    manifest = write_manifest(
        out, name, files,
        resolution=[a.image_size, a.image_size], latent_channels=a.latent_channels, vae_scale_factor=vae_scale_factor(model),
        latent_scale=model.cfg.latent_scale, dtype="float32", weights_dtype="float16" if fp16 else "float32",
        attribute_classes=list(catalog.ATTRIBUTE_CLASSES), mask_classes=list(catalog.MASK_CLASSES),
        keypoint_layout="ibug68", num_keypoints=68, reference_layers=L, attention_heads=a.heads,
        embed_dim=a.embed_dim,
        pose_channels=a.unet_channels[0],
        keypoint_image={"sigma_per_pixel_of_256": SIGMA_PER_PIXEL_OF_256,
                        "groups": [{"name": n, "start": s, "end": e, "colour": list(c)} for n, s, e, c in GROUPS]},
        image_range={"vae_encoder": [-1, 1], "vae_decoder": [-1, 1], "parser": [-1, 1], "pose_guider": [0, 1]},
        masked_fill=0.0, face_template=face_template(),
        **({"defaults": defaults} if (defaults := {k: v for k, v in (("guidance_scale", guidance_scale), ("eta", eta),
                                                                         ("noise_correlation", noise_correlation))
                                                   if v is not None}) else {}),
    )
    (out / "scheduler_config.json").write_text(json.dumps(model.schedule.scheduler_config(), indent=2) + "\n")
    report["manifest"] = {"format_version": manifest["format_version"], "graphs": sorted(manifest["graphs"])}
    return report


if __name__ == "__main__":  # the older spelling of `python -m durian_export.export`
    from .export import main

    main()
