"""ONNX and torch.export files of every preset: onnxruntime and torch.export.load
give the model's outputs (to 1e-4) for a batch of any size, the ONNX file is plain
(one file, checked by onnx's checker, at the stated opset) and both say how to
feed the model. Each preset is exported once per format (module-scoped)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from netexplorer.core.export import CARD_FILE, ExportError, ModelCard, save_torchscript
from netexplorer.core.graph_export import (
    BATCH_DIM,
    INPUT_NAME,
    ONNX_OPSET,
    save_exported_program,
    save_onnx,
)
from netexplorer.core.presets import get_preset, preset_names
from tests.core.test_export import trained_like

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

BATCHES = (1, 3, 64)
CARD_OF = {name: ModelCard(get_preset(name), "somewhere", tuple(f"c{i}" for i in range(10)),
                           (0.5,) * get_preset(name).input_shape[0],
                           (0.25,) * get_preset(name).input_shape[0])
           for name in preset_names()}


class Exports:
    """Each preset's model and its files, made on first use and kept for the module."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.models: dict[str, nn.Module] = {}
        self.files: dict[tuple[str, str], Path] = {}

    def model(self, preset: str) -> nn.Module:
        if preset not in self.models:
            self.models[preset] = trained_like(get_preset(preset), seed=len(self.models))
        return self.models[preset]

    def file(self, preset: str, suffix: str,
             save: Callable[[nn.Module, Path, ModelCard], Path]) -> Path:
        if (preset, suffix) not in self.files:
            path = self.folder / f"{preset}{suffix}"
            self.files[preset, suffix] = save(self.model(preset), path, CARD_OF[preset])
        return self.files[preset, suffix]


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Exports:
    return Exports(tmp_path_factory.mktemp("exports"))


def expected(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).numpy()


@pytest.mark.parametrize("preset", preset_names())
def test_onnx_runs_every_preset_in_onnxruntime_at_any_batch(exports, preset):
    path = exports.file(preset, ".onnx", save_onnx)
    model = exports.model(preset)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [given] = session.get_inputs()
    assert given.name == INPUT_NAME and given.shape[0] == BATCH_DIM
    assert tuple(given.shape[1:]) == tuple(get_preset(preset).input_shape)
    for batch in BATCHES:
        x = torch.randn(batch, *get_preset(preset).input_shape, generator=torch.Generator()
                        .manual_seed(batch))
        [got] = session.run(None, {INPUT_NAME: x.numpy()})
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, expected(model, x), rtol=0, atol=1e-4)


@pytest.mark.parametrize("preset", ["lenet", "cifar-vgg"])
def test_onnx_is_plain_one_file_onnx_that_says_how_to_feed_it(exports, preset):
    path = exports.file(preset, ".onnx", save_onnx)
    assert sorted(p.name for p in path.parent.glob(f"{preset}.onnx*")) == [path.name]
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [(o.domain, o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")] \
        == [("", ONNX_OPSET)]
    assert all(init.data_location != onnx.TensorProto.EXTERNAL
               for init in proto.graph.initializer)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["onnx_opset"] == str(ONNX_OPSET)
    assert json.loads(meta["classes"]) == [f"c{i}" for i in range(10)]
    assert json.loads(meta["mean"])[0] == 0.5 and json.loads(meta["std"])[0] == 0.25
    assert "scaled to [0, 1]" in meta["input"] and meta["model"] == preset
    assert json.loads(meta["spec"])["name"] == preset
    assert proto.graph.name == preset and f"opset {ONNX_OPSET}" in proto.doc_string
    assert [o.name for o in proto.graph.output] == ["logits"]


@pytest.mark.parametrize("preset", preset_names())
def test_torch_export_program_runs_every_preset_at_any_batch(exports, preset):
    path = exports.file(preset, ".pt2", save_exported_program)
    extra = {CARD_FILE: ""}
    program = torch.export.load(str(path), extra_files=extra)
    assert json.loads(extra[CARD_FILE])["model"] == preset
    module = program.module()
    model = exports.model(preset)
    for batch in BATCHES:
        x = torch.randn(batch, *get_preset(preset).input_shape)
        with torch.no_grad():
            np.testing.assert_allclose(module(x).numpy(), expected(model, x), rtol=0,
                                       atol=1e-5)


def test_torchscript_carries_the_card_and_any_batch(tmp_path):
    spec = get_preset("mlp")
    model = trained_like(spec)
    extra = {CARD_FILE: ""}
    path = save_torchscript(model, tmp_path / "mlp.pt", CARD_OF["mlp"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript, deprecated upstream
        loaded = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra[CARD_FILE])["dataset"] == "somewhere"
    for batch in BATCHES:
        x = torch.randn(batch, *spec.input_shape)
        with torch.no_grad():
            np.testing.assert_allclose(loaded(x).numpy(), expected(model, x), atol=1e-6)


def test_the_live_model_is_left_as_it_was(tmp_path):
    spec = get_preset("lenet")
    model = trained_like(spec).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    save_exported_program(model, tmp_path / "lenet.pt2", ModelCard(spec))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class Branchy(nn.Module):
    """A layer whose forward depends on its input's values: no graph can hold it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x


def branchy_model() -> tuple[nn.Module, ModelCard]:
    spec = get_preset("mlp")
    model = nn.Sequential()
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc1", nn.Linear(784, 10))
    model.add_module("gate", Branchy())
    return model, ModelCard(spec)


@pytest.mark.parametrize("save", [save_exported_program, save_onnx], ids=["pt2", "onnx"])
def test_a_layer_a_graph_cannot_hold_is_named(tmp_path, save):
    model, card = branchy_model()
    target = tmp_path / "model.out"
    with pytest.raises(ExportError, match=r"cannot take layer 'gate' \(Branchy\): "
                                          r"Could not guard on data-dependent"):
        save(model, target, card)
    assert not list(tmp_path.iterdir())


def test_a_missing_onnx_exporter_says_what_to_install(tmp_path, monkeypatch):
    from netexplorer.core import graph_export

    monkeypatch.setattr(graph_export, "_importable", lambda name: name != "onnxscript")
    with pytest.raises(ExportError, match="needs the onnxscript package: pip install "
                                          "onnxscript"):
        save_onnx(trained_like(get_preset("mlp")), tmp_path / "m.onnx",
                  ModelCard(get_preset("mlp")))
