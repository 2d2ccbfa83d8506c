"""policy_node on a bad checkpoint (issue 14.1): one line naming the file and the problem, exit code 2,
no traceback."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from robot_common.testing import NodeProcess, python_module_cmd, wait_for


def _edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def _missing(folder: Path) -> tuple[Path, str, str]:
    return folder / "nothing_here", "nothing_here", "does not exist"


def _not_safetensors(folder: Path) -> tuple[Path, str, str]:
    (folder / "model.safetensors").write_bytes(b"PK\x03\x04 a zip file, not safetensors")
    return folder, "model.safetensors", "not a safetensors file"


def _bad_json(folder: Path) -> tuple[Path, str, str]:
    (folder / "config.json").write_text('{"type": "act", "chunk_size": ')
    return folder, "config.json", "not valid JSON"


def _unknown_type(folder: Path) -> tuple[Path, str, str]:
    _edit_config(folder, type="diffusion")
    return folder, "config.json", "policy type 'diffusion'"


def _unknown_normalisation(folder: Path) -> tuple[Path, str, str]:
    _edit_config(folder, normalization_mapping={"STATE": "QUANTILES"})
    return folder, "config.json", "unknown normalisation mode 'QUANTILES'"


@pytest.mark.parametrize("damage", [_missing, _not_safetensors, _bad_json, _unknown_type, _unknown_normalisation],
                         ids=["missing folder", "not safetensors", "bad config.json", "unknown policy type",
                              "unknown normalisation mode"])
def test_bad_checkpoint_is_one_line_exit_2(damage, tiny_checkpoint, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint / "checkpoints" / "last" / "pretrained_model", folder)
    path, file_name, problem = damage(folder)
    node = NodeProcess(python_module_cmd("policy.policy_node", "--ros-args", "-p", f"checkpoint:={path}"),
                       tmp_path / "node.log")
    try:
        wait_for(lambda: not node.alive, timeout=120, what="policy_node to exit")
        out = node.log()
        assert node.proc.returncode == 2, out
        assert "Traceback" not in out, out
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1, out
        assert lines[0].startswith("policy_node: error: ") and file_name in lines[0] and problem in lines[0], out
    finally:
        node.stop()
