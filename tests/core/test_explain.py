"""Explaining one image: probabilities, every layer's output, gradient × input checked
against its analytic value on a linear model, Grad-CAM's shape and sign on the last
convolution — and that the model is left exactly as it was found. Then the pictures
made of it (core.explain_pictures)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from netexplorer.core.errors import DatasetError
from netexplorer.core.explain import explain, explain_example
from netexplorer.core.explain_pictures import (
    HEAT,
    colourise,
    display_image,
    heat_overlay,
    nearest_resize,
    saliency_panels,
    signed_picture,
    write_saliency_png,
)
from netexplorer.core.inspection import probe_layers
from netexplorer.core.specs import ModelSpec, build_model
from tests.core.trainkit import TINY, TINY_NLL, layer

LINEAR = ModelSpec("linear", (1, 8, 8), (layer("flatten", "flatten"),
                                         layer("linear", "fc", out_features=10)))
# Two convolutions, the second followed by an in-place ReLU that overwrites its output.
CONVS = ModelSpec("convs", (1, 8, 8), (
    layer("conv2d", "conv1", out_channels=4, kernel_size=3, padding=1),
    layer("relu", "relu1"),
    layer("conv2d", "conv2", out_channels=6, kernel_size=3),
    layer("relu", "relu2", inplace=True),
    layer("flatten", "flatten"),
    layer("linear", "fc", out_features=10)))


def model_of(spec: ModelSpec, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(spec)


def test_gradient_times_input_of_a_linear_model_is_its_weights_times_the_image(digits8):
    model = model_of(LINEAR)
    image = digits8.test.images[3]
    weights = model.fc.weight.detach()
    for target in (None, 0, 7):
        explanation = explain(model, image, target=target)
        chosen = explanation.target
        if target is None:
            scores = weights @ image.reshape(-1) + model.fc.bias.detach()
            assert chosen == explanation.predicted == int(scores.argmax())
        else:
            assert chosen == target
        expected = (weights[chosen].reshape(1, 8, 8) * image).numpy()
        np.testing.assert_allclose(explanation.gradient_x_input, expected, rtol=1e-5,
                                   atol=1e-7)
        np.testing.assert_allclose(explanation.saliency, expected.sum(axis=0), rtol=1e-5,
                                   atol=1e-6)
    # No convolution: no Grad-CAM.
    assert explanation.cam_layer is None and explanation.grad_cam is None \
        and explanation.grad_cam_upsampled is None


def test_grad_cam_has_the_last_convolutions_shape_and_is_never_negative(digits8):
    model = model_of(CONVS)
    for index in range(5):
        explanation = explain(model, digits8.test.images[index])
        assert explanation.cam_layer == "conv2"
        conv2 = explanation.layer("conv2").values
        assert conv2.shape == (6, 6, 6)
        assert explanation.grad_cam.shape == conv2.shape[1:] == (6, 6)
        assert explanation.grad_cam_upsampled.shape == (8, 8)
        assert (explanation.grad_cam >= 0).all() and (explanation.grad_cam_upsampled >= 0).all()
        assert explanation.grad_cam.max() > 0


def test_grad_cam_is_the_gradient_weighted_sum_of_the_maps(digits8):
    """Computed again by hand with retained tensors, on a model without in-place layers."""
    spec = ModelSpec("plain", CONVS.input_shape, tuple(
        layer("relu", "relu2") if s.name == "relu2" else s for s in CONVS.layers))
    model = model_of(spec)
    model.eval()
    x = digits8.test.images[:1].clone().requires_grad_(True)
    maps = {}
    handle = model.conv2.register_forward_hook(lambda m, i, o: maps.setdefault("a", o))
    output = model(x)
    handle.remove()
    explanation = explain(model, x[0].detach())
    activation = maps["a"]
    activation.retain_grad()
    output[0, explanation.predicted].backward()
    weights = activation.grad.mean(dim=(2, 3), keepdim=True)
    expected = (weights * activation).sum(dim=1).clamp(min=0)[0].detach().numpy()
    np.testing.assert_allclose(explanation.grad_cam, expected, rtol=1e-4, atol=1e-6)


def test_every_layer_is_traced_and_probabilities_sum_to_one(digits8):
    model = model_of(CONVS)
    explanation = explain(model, digits8.test.images[0])
    names = [name for name, _ in probe_layers(model)]
    assert [a.name for a in explanation.layers] == names
    kinds = {a.name: a.kind for a in explanation.layers}
    assert kinds["conv1"] == "conv2d" and kinds["fc"] == "linear" and kinds["relu2"] == "relu"
    assert explanation.layer("conv1").is_maps and not explanation.layer("fc").is_maps
    assert explanation.layer("flatten").values.shape == (6 * 6 * 6,)
    # conv2's own output, kept before the in-place ReLU overwrote it.
    assert (explanation.layer("conv2").values < 0).any()
    assert (explanation.layer("relu2").values >= 0).all()
    np.testing.assert_allclose(explanation.layer("fc").values,
                               model(digits8.test.images[:1]).detach()[0].numpy(), rtol=1e-5)
    assert explanation.probabilities.shape == (10,)
    assert explanation.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert explanation.predicted == int(explanation.probabilities.argmax())
    top = explanation.top(3)
    assert [c for c, _ in top][0] == explanation.predicted
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_log_probability_outputs_are_read_as_evaluation_reads_them(digits8):
    model = model_of(TINY_NLL)
    explanation = explain(model, digits8.test.images[0], loss="nll")
    expected = model(digits8.test.images[:1]).detach().exp()[0].numpy()
    np.testing.assert_allclose(explanation.probabilities, expected, rtol=1e-5)


def test_the_model_is_left_as_it_was(digits8):
    model = model_of(TINY)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    explain(model, digits8.test.images[0])
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert not model._forward_hooks and all(not m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_an_example_says_where_it_came_from_and_refuses_a_missing_index(digits8):
    model = model_of(TINY)
    explanation = explain_example(model, digits8.train, 12, split_name="train")
    assert (explanation.index, explanation.split) == (12, "train")
    assert explanation.label == int(digits8.train.labels[12])
    np.testing.assert_array_equal(explanation.image, digits8.train.images[12].numpy())
    with pytest.raises(DatasetError, match=r"no test image #359: the test split has images "
                                           r"0 to 358"):
        explain_example(model, digits8.test, 359)
    with pytest.raises(DatasetError, match="#-1"):
        explain_example(model, digits8.test, -1)
    with pytest.raises(ValueError, match="classes 0 to 9"):
        explain(model, digits8.test.images[0], target=10)


# ------------------------------------------------------------------ pictures


def test_colour_scales_run_from_end_to_end():
    np.testing.assert_allclose(colourise(np.array([[0.0, 1.0]]), HEAT)[0],
                               [HEAT[0], HEAT[-1]])
    signed = signed_picture(np.array([[-2.0, 0.0, 2.0]]))[0]
    assert signed[0, 2] > signed[0, 0]  # negative: blue
    assert signed[2, 0] > signed[2, 2]  # positive: red
    np.testing.assert_allclose(signed[1], [247 / 255] * 3, atol=1e-6)  # zero: white
    overlay = heat_overlay(np.zeros((2, 2)), np.array([[0.0, 0.0], [0.0, 3.0]]), opacity=1.0)
    np.testing.assert_allclose(overlay[1, 1], HEAT[-1])
    np.testing.assert_allclose(nearest_resize(np.array([[1, 2], [3, 4]]), 4, 4),
                               [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


def test_display_image_undoes_the_normalisation(digits8):
    norm = digits8.normalization
    image = digits8.test.images[0].numpy()
    pixels = display_image(image, norm.mean, norm.std)
    assert pixels.shape == (8, 8, 3)
    expected = norm.invert(digits8.test.images[:1]).clamp(0, 1)[0, 0].numpy()
    np.testing.assert_allclose(pixels[..., 0], expected, atol=1e-6)


def test_the_saliency_png_holds_every_panel(digits8, tmp_path):
    norm = digits8.normalization
    explanation = explain_example(model_of(CONVS), digits8.test, 4)
    panels = saliency_panels(explanation, norm.mean, norm.std, "4")
    assert [p.caption for p in panels] == ["image", "gradient × input", "Grad-CAM (conv2)",
                                           "conv2: 6×6"]
    assert all(p.pixels.shape == (8, 8, 3) for p in panels)
    path = write_saliency_png(tmp_path / "out" / "explained.png", explanation, norm.mean,
                              norm.std, digits8.classes, "test image #4", cell=64)
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.mode == "RGB"
        width, height = picture.size
    assert width > 4 * 64 and height > 64
    linear = explain(model_of(LINEAR), digits8.test.images[0])
    assert [p.caption for p in saliency_panels(linear, norm.mean, norm.std, "0")] == [
        "image", "gradient × input"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_model_on_the_gpu_is_explained_as_on_the_cpu(digits8):
    """The image (on the CPU, as datasets are) goes to the model's device; what comes
    back is numpy, equal to the CPU's trace."""
    cpu = explain(model_of(CONVS), digits8.test.images[2])
    gpu = explain(model_of(CONVS).cuda(), digits8.test.images[2])
    np.testing.assert_allclose(gpu.probabilities, cpu.probabilities, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gpu.gradient_x_input, cpu.gradient_x_input, rtol=1e-3,
                               atol=1e-5)
    np.testing.assert_allclose(gpu.grad_cam, cpu.grad_cam, rtol=1e-3, atol=1e-5)
    assert isinstance(gpu.layer("conv1").values, np.ndarray)
