"""The offline ImageNet weights: safe reading, exact conversion, and clear refusals."""

import os
import pickle
import shutil
from pathlib import Path

import keras
import matplotlib
import numpy as np
import pytest
from PIL import Image

from steel_defect import backbones
from steel_defect.backbones import build_backbone, packaged_torchvision_weights
from steel_defect.errors import UserError
from steel_defect.mobilenet_v2 import load_torch_state, mobilenet_v2, preprocess
from steel_defect.torch_weights import LEGACY_MAGIC, read_legacy_state_dict
from tests.conftest import tiny_nasnet

# torchvision's weights load by layer name into the whole network, not the tests' cut one
pytestmark = pytest.mark.full_mobilenet

MILITARY_UNIFORM = 652  # ImageNet class index


@pytest.fixture(scope="module")
def state() -> dict:
    return read_legacy_state_dict(packaged_torchvision_weights())


def torchvision_crop(path: str) -> np.ndarray:
    """torchvision's eval transform: resize the short side to 256, centre-crop 224."""
    img = Image.open(path).convert("RGB")
    scale = 256 / min(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
    left, top = (img.width - 224) // 2, (img.height - 224) // 2
    return np.asarray(img.crop((left, top, left + 224, top + 224)), dtype="float32")[None]


def test_packaged_file_is_torchvisions(state):
    assert backbones.sha256_file(packaged_torchvision_weights()) == backbones.TORCHVISION_SHA256
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["classifier.1.weight"].shape == (1000, 1280)


def test_converted_network_recognises_grace_hoppers_uniform(state):
    image = keras.Input((224, 224, 3))
    model = keras.Model(image, mobilenet_v2(preprocess(image), include_top=True))
    load_torch_state(model, state, "packaged weights")
    assert model.count_params() == 3_504_872 + 34_112  # torchvision's 3.50M plus BatchNorm running statistics
    logits = np.asarray(model(torchvision_crop(os.path.join(matplotlib.get_data_path(), "sample_data/grace_hopper.jpg"))))[0]
    assert MILITARY_UNIFORM in np.argsort(logits)[::-1][:5]


def test_unpickler_refuses_foreign_globals(tmp_path: Path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.pth"
    bad.write_bytes(b"".join(pickle.dumps(x, protocol=2) for x in (LEGACY_MAGIC, 1001, {}, Evil())))
    with pytest.raises(UserError, match=r"evil.pth: not a readable PyTorch state dict \(refusing to load global"):
        read_legacy_state_dict(bad)
    assert not marker.exists()


def test_non_checkpoint_is_refused(tmp_path: Path):
    bad = tmp_path / "model.pth"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(UserError, match="model.pth"):
        read_legacy_state_dict(bad)


def test_tampered_pth_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    tampered = tmp_path / backbones.TORCHVISION_FILE
    shutil.copyfile(packaged_torchvision_weights(), tampered)
    with open(tampered, "r+b") as f:
        f.seek(-10, os.SEEK_END)
        f.write(b"\x00" * 4)
    with pytest.raises(UserError, match=r"sha256 .* does not match .*tampered"):
        build_backbone("mobilenet_v2", 32, str(tampered))  # a torch-hub style name carries its hash prefix
    monkeypatch.setattr(backbones, "packaged_torchvision_weights", lambda: tampered)
    with pytest.raises(UserError, match=r"does not match torchvision's"):
        build_backbone("mobilenet_v2", 32, "imagenet")


def test_wrong_architecture_is_refused(state):
    image = keras.Input((32, 32, 3))
    model = keras.Model(image, mobilenet_v2(preprocess(image)))
    broken = dict(state, **{"features.3.conv.1.0.weight": np.zeros((7, 1, 3, 3), np.float32)})
    with pytest.raises(UserError, match=r"features.3.conv.1.0 .*not torchvision MobileNetV2"):
        load_torch_state(model, broken, "other.pth")
    extra = dict(state, **{"features.19.0.weight": np.zeros((1,), np.float32)})
    with pytest.raises(UserError, match=r"no matching layer \(first: features.19.0.weight\)"):
        load_torch_state(model, extra, "other.pth")


def test_nasnet_from_scratch_and_wrong_weights_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(keras.applications, "NASNetMobile", tiny_nasnet)  # NASNet-Mobile's builder, fewer cells
    model, info = build_backbone("nasnet_mobile", 32, None)
    assert info["backbone"] == "nasnet_mobile" and info["weights"] == "random init"
    assert model.input.shape == (None, None, None, 1)
    mobilenet, _ = build_backbone("mobilenet_v2", 32, None)
    wrong = tmp_path / "mobilenet.weights.h5"
    mobilenet.save_weights(wrong)
    with pytest.raises(UserError, match=r"mobilenet.weights.h5': not NASNet-Mobile"):
        build_backbone("nasnet_mobile", 32, str(wrong))


def test_nasnet_imagenet_offline_names_the_file(monkeypatch: pytest.MonkeyPatch):
    from keras.src.applications import nasnet

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(nasnet.file_utils, "get_file", offline)
    with pytest.raises(UserError, match=r"place NASNet-mobile-no-top.h5 at .*nasnet_mobile_no_top.h5"):
        build_backbone("nasnet_mobile", 224, "imagenet")


def test_unknown_backbone():
    with pytest.raises(UserError, match=r"'model.backbone' is 'resnet'; choose one of mobilenet_v2, nasnet_mobile"):
        build_backbone("resnet", 32, None)


@pytest.mark.parametrize("channels", [1, 3])
def test_per_image_normalize_removes_brightness_gain_and_contrast(channels: int):
    """model.normalize per_image: offset, gain and contrast of unclipped pixels leave the features unchanged."""
    model, info = build_backbone("mobilenet_v2", 32, None, channels, "per_image")
    assert info["normalize"] == "per_image"
    plain, plain_info = build_backbone("mobilenet_v2", 32, None, channels)
    assert "normalize" not in plain_info  # none: the graph and record from before the key
    images = np.random.default_rng(0).uniform(60, 180, (2, 40, 40, channels)).astype("float32")
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    changed = [images + 25, images * 1.2, mean + 0.7 * (images - mean)]
    standardised = keras.Model(model.input, model.get_layer("per_image_to_imagenet").output)
    reference = standardised.predict(images, verbose=0)
    assert reference.mean() == pytest.approx(backbones.PER_IMAGE_MEAN, abs=0.5)
    assert reference.std() == pytest.approx(backbones.PER_IMAGE_STD, rel=0.02)
    for other in changed:
        np.testing.assert_allclose(standardised.predict(other, verbose=0), reference, atol=0.5)  # epsilon: < 1 level
    flat = standardised.predict(np.full((1, 40, 40, channels), 90, np.float32), verbose=0)
    np.testing.assert_allclose(flat, backbones.PER_IMAGE_MEAN, atol=1e-3)  # no division blow-up
    with pytest.raises(UserError, match=r"'model.normalize' is 'batch'; choose one of none, per_image, center"):
        build_backbone("mobilenet_v2", 32, None, channels, "batch")


@pytest.mark.parametrize("channels", [1, 3])
def test_center_normalize_removes_a_brightness_offset_and_keeps_contrast(channels: int):
    """model.normalize center: an offset of unclipped pixels leaves the input unchanged; contrast is kept as it is."""
    model, info = build_backbone("mobilenet_v2", 32, None, channels, "center")
    assert info["normalize"] == "center"
    images = np.random.default_rng(0).uniform(60, 180, (2, 40, 40, channels)).astype("float32")
    centred = keras.Model(model.input, model.get_layer("center_to_imagenet").output)
    reference = centred.predict(images, verbose=0)
    np.testing.assert_allclose(reference.mean(axis=(1, 2)), backbones.PER_IMAGE_MEAN, atol=1e-3)  # every channel
    resized = keras.Model(model.input, model.get_layer("resize").output).predict(images, verbose=0)
    np.testing.assert_allclose(reference.std(axis=(1, 2)), resized.std(axis=(1, 2)), rtol=1e-4)  # no stretching
    for offset in (-40, 25):
        np.testing.assert_allclose(centred.predict(images + offset, verbose=0), reference, atol=1e-3)
    gained = centred.predict(images * 1.5, verbose=0) - backbones.PER_IMAGE_MEAN  # a gain scales the contrast
    np.testing.assert_allclose(gained, 1.5 * (reference - backbones.PER_IMAGE_MEAN), atol=1e-2)
