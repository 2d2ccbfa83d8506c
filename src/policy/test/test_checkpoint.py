"""Checkpoints: our round trip is exact; LeRobot-layout checkpoints (new processor files and the
older in-model normalisation buffers) load into the same network with the same outputs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from policy.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from policy.inference import ACTPolicy


def _obs(rng: np.random.Generator) -> dict:
    return {"observation.state": rng.normal(size=6).astype(np.float32),
            "observation.images.front": rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)}


def test_round_trip_gives_identical_outputs(tiny_checkpoint, tmp_path):
    a = ACTPolicy.from_checkpoint(tiny_checkpoint)
    save_checkpoint(tmp_path / "copy", a.cfg, a.ckpt.workspace, a.model, a.normalizer)
    b = ACTPolicy.from_checkpoint(tmp_path / "copy")
    assert b.ckpt.source == "workspace"
    obs = _obs(np.random.default_rng(1))
    np.testing.assert_array_equal(a.predict_chunk(obs), b.predict_chunk(obs))
    assert b.ckpt.workspace.action_names == a.ckpt.workspace.action_names


def _lerobot_dir(src, dst, legacy: bool):
    """A checkpoint folder the way LeRobot writes one: config.json (type act) + model.safetensors with
    model.* names, and stats in processor files (>= 0.4) or normalize_* buffers (older)."""
    dst.mkdir()
    cfg = json.loads((src / "config.json").read_text())
    cfg.update({"device": "cpu", "use_amp": False, "push_to_hub": False, "repo_id": None})  # LeRobot-only fields
    (dst / "config.json").write_text(json.dumps(cfg))
    weights = load_file(str(src / "model.safetensors"))
    weights = {k: v for k, v in weights.items() if not k.endswith("num_batches_tracked")}
    stats = load_file(str(src / "stats.safetensors"))
    if legacy:
        for name, value in stats.items():
            feature, _, stat = name.rpartition(".")
            buffer = "buffer_" + feature.replace(".", "_")
            group = "normalize_inputs" if feature != "action" else "unnormalize_outputs"
            weights[f"{group}.{buffer}.{stat}"] = value
            if feature == "action":
                weights[f"normalize_targets.{buffer}.{stat}"] = value.clone()
    else:
        inputs = {k: v for k, v in stats.items() if not k.startswith("action.")}
        save_file(inputs | {k: v for k, v in stats.items() if k.startswith("action.")},
                  str(dst / "policy_preprocessor_step_3_normalizer_processor.safetensors"))
        save_file({k: v for k, v in stats.items() if k.startswith("action.")},
                  str(dst / "policy_postprocessor_step_0_unnormalizer_processor.safetensors"))
        (dst / "policy_preprocessor.json").write_text("{}")
    save_file(weights, str(dst / "model.safetensors"))
    return dst


@pytest.mark.parametrize("legacy", [False, True], ids=["lerobot-0.4", "lerobot-legacy"])
def test_lerobot_checkpoint_loads(tiny_checkpoint, tmp_path, legacy):
    ours = load_checkpoint(tiny_checkpoint)
    # a LeRobot checkpoint has FrozenBatchNorm2d buffers: bake our trained BatchNorm into them
    d = _lerobot_dir(ours.path, tmp_path / "lerobot", legacy)
    loaded = load_checkpoint(d)
    assert loaded.source == ("lerobot-legacy" if legacy else "lerobot")
    assert loaded.workspace.backbone_norm == "frozen"
    obs = _obs(np.random.default_rng(2))
    a = ACTPolicy(ours).predict_chunk(obs)
    b = ACTPolicy(loaded).predict_chunk(obs)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    names = set(load_file(str(d / "model.safetensors")))
    for key in ("model.backbone.layer4.1.bn2.running_var", "model.encoder.layers.0.self_attn.in_proj_weight",
                "model.vae_encoder.layers.0.linear1.weight", "model.encoder_1d_feature_pos_embed.weight",
                "model.decoder.layers.1.multihead_attn.out_proj.weight", "model.action_head.weight"):
        assert key in names


def test_bad_checkpoints_fail_with_reasons(tiny_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    ours = load_checkpoint(tiny_checkpoint).path
    bad = tmp_path / "bad"
    bad.mkdir()
    cfg = json.loads((ours / "config.json").read_text())
    cfg["dim_model"] = 32
    cfg["n_heads"] = 4
    (bad / "config.json").write_text(json.dumps(cfg))
    for f in ("model.safetensors", "stats.safetensors", "workspace.json"):
        (bad / f).write_bytes((ours / f).read_bytes())
    with pytest.raises(CheckpointError, match="do not fit the config"):
        load_checkpoint(bad)
    cfg["type"] = "diffusion"
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="not act"):
        load_checkpoint(bad)
    stats = load_file(str(ours / "stats.safetensors"))
    stats["action.std"] = torch.full_like(stats["action.std"], float("nan"))
    (bad / "config.json").write_text((ours / "config.json").read_text())
    save_file(stats, str(bad / "stats.safetensors"))
    with pytest.raises(CheckpointError, match="non-finite"):
        load_checkpoint(bad)
