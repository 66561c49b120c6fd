"""The wheel: installed into a fresh venv it adds only ``stancelens`` and scores a file from anywhere.

The fresh venv borrows the test venv's third-party packages through a ``.pth`` line (torch
is gigabytes; the point is what *this* project installs), and the editable install of the
source checkout is not visible in it, so everything runs from the wheel's files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # built from a copy: setuptools leaves build/ beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("model", "train", "serve", "stancelens"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp)]
    subprocess.run([*build, str(source)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp.glob("stancelens-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    before = {p.name for p in _site_packages(venv).iterdir()}
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "-q"]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True, timeout=300)
    added = {p.name for p in _site_packages(venv).iterdir()} - before
    assert {name for name in added if not name.endswith(".dist-info")} == {"stancelens"}, added
    # Third-party dependencies from the test venv, appended after the fresh venv's own site-packages.
    (_site_packages(venv) / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_wheel_installs_only_the_stancelens_namespace(installed: Path, tmp_path: Path):
    package = _site_packages(installed) / "stancelens"
    assert {"model", "train", "serve"} <= {p.name for p in package.iterdir() if p.is_dir()}
    assert (package / "train" / "configs" / "default.toml").is_file()
    assert (package / "serve" / "static" / "index.html").is_file()
    probe = "import stancelens.model.predictor as p, importlib.util as u; print(p.__file__, u.find_spec('model'))"
    # run away from the checkout: `python -c` puts the current directory first on sys.path
    run = [installed / "bin" / "python", "-c", probe]
    out = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=True)
    where, generic = out.stdout.split()
    assert where.startswith(str(package)) and generic == "None"


def test_installed_wheel_scores_a_file_from_another_directory(installed: Path, model_dir: Path, tmp_path: Path):
    help_text = subprocess.run([installed / "bin" / "stancelens", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "score" in help_text.stdout
    src = tmp_path / "doc.txt"
    src.write_text("The Taliban said they had taken the valley. The NRF denied it.", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "STANCELENS_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [installed / "bin" / "stancelens", "score", str(src), "--model", str(model_dir), "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["sent_index"] for r in rows] == [0, 1] and all(r["stance"] for r in rows)
