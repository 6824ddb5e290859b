"""`netexplorer explain`: on a checkpoint trained on the bundled digits, and on a
stored run named by its id, it prints the true class, the prediction and the top 3
classes in percent, and writes the saliency picture; a missing image is one line.

Commands run in this process (tests/test_cli.py's run_main)."""

from __future__ import annotations

import re

import pytest
import torch
from PIL import Image

from netexplorer.core.checkpoints import load_checkpoint
from netexplorer.core.data import load_dataset
from tests.core.test_explain import CONVS
from tests.test_cli import run_main
from tests.test_cli_runs import RUN_ID

TOP_LINE = re.compile(r"^  (\d)\s+(\d+\.\d) %$", re.M)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two epochs of a small convolutional net on the digits, saved and stored."""
    folder = tmp_path_factory.mktemp("explain")
    spec, ckpt, runs = folder / "convs.json", folder / "convs.ckpt", folder / "runs"
    spec.write_text(CONVS.to_json())
    code, out, err = run_main("train", "--spec", spec, "--epochs", 2, "--device", "cpu",
                              "--save", ckpt, "--runs-dir", runs)
    assert code == 0, err
    return {"folder": folder, "ckpt": ckpt, "runs": runs,
            "run_id": re.search(rf"^Run ({RUN_ID})\b", out, re.M).group(1)}


def expected_probabilities(ckpt, index: int) -> torch.Tensor:
    checkpoint = load_checkpoint(ckpt)
    images = load_dataset("digits", input_shape=checkpoint.spec.input_shape,
                          normalization=checkpoint.normalization).test.images
    model = checkpoint.build_model().eval()
    with torch.no_grad():
        return model(images[index:index + 1]).softmax(dim=1)[0]


def test_explain_prints_truth_prediction_and_top_three_and_writes_the_picture(trained):
    index = 17
    picture = trained["folder"] / "pictures" / "seventeen.png"
    code, out, err = run_main("explain", trained["ckpt"], "--index", index, "--out", picture,
                              "--device", "cpu")
    assert code == 0, err
    label = int(load_dataset("digits").test.labels[index])
    probabilities = expected_probabilities(trained["ckpt"], index)
    predicted = int(probabilities.argmax())
    assert f"test image #{index}" in out.splitlines()[0]
    assert re.search(rf"^True class: {label}$", out, re.M)
    verdict = "right" if predicted == label else "wrong"
    assert re.search(rf"^Predicted:  {predicted} \({100 * probabilities[predicted]:.1f} %\) — "
                     rf"{verdict}$", out, re.M)
    top = [(int(c), float(p)) for c, p in TOP_LINE.findall(out)]
    expected = torch.topk(probabilities, 3)
    assert [c for c, _ in top] == expected.indices.tolist()
    assert [p for _, p in top] == [round(100 * float(p), 1) for p in expected.values]
    assert f"Grad-CAM on conv2, for {predicted}): {picture}" in out
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size[0] > 600


def test_explain_takes_a_stored_run_and_the_training_split(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main("explain", trained["run_id"], "--runs-dir", trained["runs"],
                              "--index", 0, "--split", "train")
    assert code == 0, err
    assert f"run {trained['run_id']}, last.ckpt" in out.splitlines()[0]
    assert "train image #0" in out
    label = int(load_dataset("digits").train.labels[0])
    assert re.search(rf"^True class: {label}$", out, re.M)
    assert len(TOP_LINE.findall(out)) == 3
    assert (tmp_path / "explain-train-0.png").is_file()


def test_an_image_that_is_not_there_is_one_line_naming_the_range(trained, tmp_path):
    code, out, err = run_main("explain", trained["ckpt"], "--index", 359, "--out",
                              tmp_path / "x.png")
    assert code == 1 and out == ""
    assert err == ("netexplorer: error: there is no test image #359: the test split has "
                   "images 0 to 358\n")
    assert not (tmp_path / "x.png").exists()
    code, _, err = run_main("explain", trained["folder"] / "missing.ckpt", "--index", 0)
    assert code == 1 and "there is no checkpoint at" in err
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run_main("explain", trained["ckpt"], "--index", 0, "--out",
                              blocker / "x.png")
    assert code == 1 and "True class:" in out
    assert err.startswith(f"netexplorer: error: cannot write the picture {blocker / 'x.png'}: ")
    assert len(err.splitlines()) == 1
