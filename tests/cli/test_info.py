"""rsmooth info: the build, CPU capabilities, GPUs, versions and cache directory, as text and as JSON."""

import json
import platform

import torch

import rsmooth_ext
from rsmooth_ext.cli import main
from rsmooth_ext.cli.info import collect, format_text


def test_info_json_reports_the_build_cpu_gpus_versions_and_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["build"] == rsmooth_ext.build_info()
    assert info["cpu"]["capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["cpu"]["bf16"] in (True, False, None) and info["cpu"]["fp16"] in (True, False, None)
    assert info["cpu"]["threads"] == torch.get_num_threads()
    assert len(info["gpus"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert (info["torch"], info["cuda"], info["python"]) == (torch.__version__, torch.version.cuda,
                                                             platform.python_version())
    assert info["cache_dir"] == str(tmp_path / "cache")


def test_info_text(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RSMOOTH_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    for start in ("rsmooth_ext ", "build: ", "cpu: ", "torch: ", "python: ", "cache: "):
        assert any(line.startswith(start) for line in text.splitlines()), start
    assert f"built against torch {rsmooth_ext.build_info()['torch_version_built']}" in text
    assert torch.backends.cpu.get_cpu_capability() in text and str(tmp_path / "cache") in text
    if not torch.cuda.is_available():
        assert "gpus:       none" in text


def test_info_text_lists_gpus_and_unknown_capabilities():
    info = collect()
    info["gpus"] = [{"index": 0, "name": "NVIDIA H200", "capability": "9.0", "memory_gib": 139.8}]
    info["cpu"]["fp16"] = None
    info["build"].update(cuda=True, cuda_version="12.8", cuda_archs="8.0;9.0")
    text = format_text(info)
    assert "gpu 0:      NVIDIA H200, capability 9.0, 139.8 GiB" in text
    assert "fp16 unknown (this torch cannot tell)" in text and "CUDA 12.8, archs 8.0;9.0" in text
