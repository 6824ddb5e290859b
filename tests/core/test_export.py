"""Exports: the generated Python module and the TorchScript file reproduce the app's
model exactly, and files are written atomically."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from netexplorer.core.export import (
    ExportError,
    class_name,
    python_source,
    save_torchscript,
    write_python,
    write_text,
)
from netexplorer.core.presets import get_preset, preset_names
from netexplorer.core.specs import LayerSpec, ModelSpec, SpecError, build_model


def import_file(path: Path, module_name: str):
    """Import a generated file the way a person would use it: from its own folder."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trained_like(spec: ModelSpec, seed: int = 0) -> torch.nn.Module:
    """The app's model with non-default weights and batch-norm statistics."""
    torch.manual_seed(seed)
    model = build_model(spec)
    model.train()
    with torch.no_grad():
        model(torch.randn(4, *spec.input_shape))  # moves running means/vars off 0/1
    return model.eval()


@pytest.mark.parametrize("preset", preset_names())
def test_generated_module_reproduces_every_preset(preset, tmp_path):
    spec = get_preset(preset)
    model = trained_like(spec)
    path = write_python(tmp_path / f"{preset.replace('-', '_')}.py", spec)
    module = import_file(path, f"generated_{preset.replace('-', '_')}")
    generated = getattr(module, class_name(spec.name))()
    generated.load_state_dict(model.state_dict(), strict=True)
    generated.eval()
    assert [n for n, _ in generated.named_children()] == [layer.name for layer in spec.layers]
    x = torch.randn(3, *spec.input_shape)
    with torch.no_grad():
        assert torch.equal(generated(x), model(x))
    assert module.INPUT_SHAPE == tuple(spec.input_shape)


def test_generated_file_runs_standalone_and_reads_checkpoints(tmp_path):
    """Without netexplorer on the path: it imports torch only, and loads the weights of
    a netexplorer checkpoint."""
    from netexplorer.core.checkpoints import save_checkpoint

    spec = get_preset("lenet")
    model = trained_like(spec, seed=3)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    write_python(folder / "lenet_model.py", spec)
    save_checkpoint(folder / "lenet.ckpt", spec=spec, model=model)
    x = torch.randn(2, *spec.input_shape)
    torch.save(x, folder / "x.pt")
    with torch.no_grad():
        torch.save(model(x), folder / "expected.pt")
    script = ("import sys, torch, lenet_model as m\n"
              "assert not any(k.startswith('netexplorer') for k in sys.modules)\n"
              "net = m.Lenet()\n"
              "net.load_state_dict(m.load_checkpoint_weights('lenet.ckpt'), strict=True)\n"
              "net.eval()\n"
              "with torch.no_grad():\n"
              "    same = torch.equal(net(torch.load('x.pt')), torch.load('expected.pt'))\n"
              "print('same' if same else 'different')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True,
                         text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "same"
    main = subprocess.run([sys.executable, "lenet_model.py"], cwd=folder, capture_output=True,
                          text=True, timeout=120, env=env)
    assert main.returncode == 0, main.stderr
    assert "torch.Size([1, 10])" in main.stdout


@pytest.mark.parametrize("name, expected", [
    ("lenet", "Lenet"), ("cifar-net", "CifarNet"), ("mnist cnn v2", "MnistCnnV2"),
    ("3layer", "Net3layer"), ("", "Net"), ("---", "Net"), ("my_Model", "MyModel"),
])
def test_class_names_are_identifiers(name, expected):
    assert class_name(name) == expected
    assert expected.isidentifier()


def test_odd_model_names_cannot_break_the_file(tmp_path):
    spec = get_preset("mlp").replace(name='evil """ \\ name\nimport os')
    path = write_python(tmp_path / "odd.py", spec)
    module = import_file(path, "generated_odd")
    assert isinstance(module.EvilNameImportOs(), torch.nn.Module)
    assert '"""' not in module.__doc__


def test_unicode_layer_names_export_as_the_trained_model(tmp_path):
    """The exported module's attributes are the trained model's names: a name Python
    would read differently (`fc１` is `fc1` to the parser) never reaches the export,
    and names it keeps as written load the state_dict exactly."""
    kept = ModelSpec("uni", (1, 4, 4), (LayerSpec("flatten", "flach"),
                                        LayerSpec("linear", "schicht_\u00e4", {"out_features": 3}),
                                        LayerSpec("linear", "fc1", {"out_features": 2})))
    model = trained_like(kept)
    module = import_file(write_python(tmp_path / "uni.py", kept), "generated_uni")
    generated = module.Uni()
    generated.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 1, 4, 4)
    with torch.no_grad():
        assert torch.equal(generated.eval()(x), model(x))
    folded = kept.with_layer(1, kept.layers[1].renamed("fc\uff11"))  # beside a real fc1
    with pytest.raises(SpecError, match="layer 2 is named 'fc\uff11', which Python reads as 'fc1'"):
        python_source(folded)


def test_parameters_equal_to_torch_defaults_are_left_out():
    source = python_source(get_preset("cifar-vgg"))
    assert "nn.Conv2d(in_channels=3, out_channels=32, kernel_size=3, padding=1, bias=False)" \
        in source
    assert "nn.BatchNorm2d(num_features=32)" in source
    assert "nn.ReLU(inplace=True)" in source


def test_invalid_spec_is_refused():
    spec = ModelSpec("broken", (1, 8, 8), (LayerSpec("linear", "fc", {"out_features": 3}),))
    with pytest.raises(SpecError):
        python_source(spec)


def test_torchscript_export_loads_and_matches(tmp_path):
    spec = get_preset("cifar-vgg")
    model = trained_like(spec, seed=1)
    model.train()  # the live model may be mid-training: the export uses eval mode
    path = save_torchscript(model, tmp_path / "vgg.pt")
    assert model.training  # and leaves the live model as it was
    with warnings.catch_warnings():  # TorchScript is deprecated upstream; still supported
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(path))
    x = torch.randn(2, *spec.input_shape)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), rtol=0, atol=1e-6)
    assert not list(tmp_path.glob(".*.tmp"))


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "metrics.csv"
    target.write_text("old")

    def fail(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ExportError, match="No space left"):
        write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


def test_a_missing_folder_is_explained(tmp_path):
    with pytest.raises(ExportError, match="choose another folder"):
        write_text(tmp_path / "no" / "such" / "folder" / "x.csv", "a,b\n")
