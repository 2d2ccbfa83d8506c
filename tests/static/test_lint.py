"""The whole tree is ruff-clean (settings in pyproject.toml)."""
import shutil
import subprocess

from .launch_check import ROOT


def test_ruff_clean():
    ruff = shutil.which("ruff")
    assert ruff, "ruff is not installed (make setup installs requirements/dev.txt)"
    res = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:]
