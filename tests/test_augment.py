from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages import augment, fetch, split
from steel_defect import perturb as perturb_module
from steel_defect.augmentation import Photometric, augment_images
from steel_defect.errors import UserError
from steel_defect.perturb import PERTURBATIONS, perturb
from tests.conftest import set_param


def images(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, 24, 24, 1), dtype=np.uint8)


def test_augment_is_seeded_and_changes_pixels():
    x = images()
    a = augment_images(x, 2, [0, 45, 90, 180], True, 0.2, 0.2, seed=3)
    assert a.shape == (6, 2, 24, 24, 1) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, augment_images(x, 2, [0, 45, 90, 180], True, 0.2, 0.2, seed=3))
    assert not np.array_equal(a, augment_images(x, 2, [0, 45, 90, 180], True, 0.2, 0.2, seed=4))
    assert not np.array_equal(a[:, 0], x)


def test_photometric_off_leaves_the_geometric_copies_alone():
    x = images()
    plain = augment_images(x, 2, [0, 90], True, 0.2, 0.2, seed=3)
    np.testing.assert_array_equal(plain, augment_images(x, 2, [0, 90], True, 0.2, 0.2, seed=3, photometric=Photometric()))


SENSOR = ["brightness", "contrast", "gain", "noise", "specks", "blur", "column_gain", "row_gain", "dead_columns"]


@pytest.mark.parametrize("kind", SENSOR)
def test_each_photometric_change_is_seeded_and_grows_with_its_strength(kind: str):
    x = np.full((16, 24, 24, 1), 128, np.uint8)
    x[:, :, 12:] = 96  # some contrast for RandomContrast to scale
    plain = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3).astype(int)
    np.testing.assert_array_equal(plain, np.broadcast_to(x[:, None], plain.shape))
    scale = {"brightness": 0.2, "contrast": 0.5, "gain": 0.2, "noise": 20.0, "specks": 0.05, "blur": 2.0}.get(kind)
    scale = scale or {"column_gain": 0.1, "row_gain": 0.1, "dead_columns": 8}[kind]
    changes = []
    for strength in (scale / 4, scale):
        light = Photometric(**{kind: strength})
        a = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=light)
        np.testing.assert_array_equal(a, augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=light))
        changes.append(np.abs(a.astype(int) - plain).mean())
    assert 0 < changes[0] < changes[1]


def test_blur_keeps_a_flat_image_flat_to_its_edges():
    """Reflected edges: zero padding (Keras's RandomGaussianBlur) would darken a border the model could learn."""
    x = np.full((4, 24, 24, 3), 200, np.uint8)
    np.testing.assert_array_equal(augment_images(x, 1, [0], False, 0.0, 0.0, seed=0, photometric=Photometric(blur=3.0))[:, 0], x)


def test_specks_are_black_or_white_pixels():
    x = np.full((8, 32, 32, 3), 128, np.uint8)
    a = augment_images(x, 1, [0], False, 0.0, 0.0, seed=0, photometric=Photometric(specks=0.2))[:, 0]
    changed = np.any(a != 128, axis=-1)
    assert changed.mean() > 0.02
    assert set(np.unique(a[changed])) <= {0, 255}
    assert np.all(a[changed].min(axis=-1) == a[changed].max(axis=-1))  # every channel of a speck alike


EVERY = Photometric(brightness=0.3, noise=20.0, specks=0.05, blur=2.0, gain=0.2)


def test_probability_zero_leaves_every_copy_geometric_only():
    """Skipped changes have strength 0, and the Keras ones fall back to a twin with the same geometry."""
    x = images(8)
    plain = augment_images(x, 3, [0, 90], True, 0.2, 0.2, seed=3)
    none = augment_images(x, 3, [0, 90], True, 0.2, 0.2, seed=3, photometric=EVERY, probability=0.0)
    np.testing.assert_array_equal(plain, none)


def test_probability_one_is_every_change_on_every_copy():
    x = images(8)
    every = augment_images(x, 2, [0, 90], True, 0.2, 0.2, seed=3, photometric=EVERY)
    all_on = augment_images(x, 2, [0, 90], True, 0.2, 0.2, seed=3, photometric=EVERY, probability=1.0)
    np.testing.assert_array_equal(every, all_on)


def test_each_change_reaches_a_copy_with_its_own_chance():
    x = np.full((400, 16, 16, 1), 128, np.uint8)
    plain = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3)[:, 0].astype(int)

    def half(**strengths: float) -> np.ndarray:
        return augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=Photometric(**strengths), probability=0.5)

    brightness, noise, both = half(brightness=0.3), half(noise=20.0), half(brightness=0.3, noise=20.0)
    for a, share in ((brightness, 0.5), (noise, 0.5), (both, 0.25)):
        untouched = np.all(a[:, 0].astype(int) == plain, axis=(1, 2, 3)).mean()
        assert abs(untouched - share) < 0.1, (untouched, share)  # 400 copies: the share within about 4 std
    # a copy of `both` can be noisy without a brightness offset: the chances are drawn apart
    offset = np.abs(np.median(both[:, 0].astype(int) - plain, axis=(1, 2, 3))) > 3
    noisy = np.std(both[:, 0].astype(int), axis=(1, 2, 3)) > 3
    assert np.any(noisy & ~offset) and np.any(offset & ~noisy)


def test_light_probability_lights_every_copy_while_the_sensor_changes_keep_their_chance():
    x = np.full((400, 16, 16, 1), 128, np.uint8)
    plain = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3)[:, 0].astype(int)
    both = Photometric(brightness=0.3, noise=20.0)
    lit = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=both, probability=0.5, light_probability=1.0)
    offset = np.abs(np.median(lit[:, 0].astype(int) - plain, axis=(1, 2, 3)))
    noisy = np.std(lit[:, 0].astype(int), axis=(1, 2, 3)) > 3
    assert np.mean(offset > 0) > 0.95  # an offset drawn from -0.3..0.3 of the range is rarely under half a level
    assert abs(noisy.mean() - 0.5) < 0.1  # 400 copies: noise still on about half of them
    default = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=both, probability=0.5)
    same = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=both, probability=0.5, light_probability=0.5)
    np.testing.assert_array_equal(default, same)  # null (None) means augment.probability, draw for draw


def test_specks_probability_specks_every_copy_while_the_other_sensor_changes_keep_their_chance():
    x = np.full((400, 16, 16, 1), 128, np.uint8)
    both = Photometric(noise=20.0, specks=0.2)
    specked = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=both, probability=0.5, specks_probability=1.0)
    extremes = np.mean((specked[:, 0] == 0) | (specked[:, 0] == 255), axis=(1, 2, 3))
    assert np.mean(extremes > 0) > 0.95  # a fraction drawn from 0..0.2 of 256 pixels rarely hits none
    noisy = np.array([np.std(c[(c > 0) & (c < 255)].astype(int)) > 3 for c in specked[:, 0]])
    assert abs(noisy.mean() - 0.5) < 0.1  # noise still on about half of the copies
    default = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=both, probability=0.5)
    same = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=both, probability=0.5, specks_probability=0.5)
    np.testing.assert_array_equal(default, same)  # null (None) means augment.probability, draw for draw


def test_line_probability_gives_the_line_camera_changes_a_chance_of_their_own():
    x = np.full((400, 16, 16, 1), 128, np.uint8)
    lines = Photometric(noise=20.0, dead_columns=2.0)
    rare = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=lines, probability=0.5, line_probability=0.1)
    dead = np.array([((c == 0) | (c == 255)).all(axis=0).any() for c in rare[:, 0]])
    assert 0.02 < dead.mean() < 0.1  # a chance of 0.1, and 0, 1 or 2 columns drawn when on
    noisy = np.array([np.std(c[(c > 0) & (c < 255)].astype(int)) > 3 for c in rare[:, 0]])
    assert abs(noisy.mean() - 0.5) < 0.1  # noise keeps augment.probability
    default = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=lines, probability=0.5)
    same = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=lines, probability=0.5, line_probability=0.5)
    np.testing.assert_array_equal(default, same)  # null (None) means augment.probability, draw for draw


def test_jpeg_compresses_each_copy_as_the_robustness_stage_does_at_a_quality_it_draws():
    """augment.jpeg is the lowest quality; each copy draws one up to 100 (uncompressed) and goes through
    the robustness stage's own JPEG perturbation, so training sees exactly the artefacts it is tested on."""
    x = images(8)
    plain = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3)
    np.testing.assert_array_equal(plain[:, 0], x)
    jpeg = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=Photometric(jpeg=30))
    np.testing.assert_array_equal(jpeg, augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=Photometric(jpeg=30)))
    qualities = []
    for image, copy in zip(x, jpeg[:, 0], strict=True):
        same = [q for q in range(30, 101) if np.array_equal(perturb(image[None], "jpeg_quality", q)[0], copy)]
        assert same, "every copy is one JPEG quality from 30 to 100 of its original"
        qualities.append(same[0])
    assert min(qualities) < 100, "noise-like test images: at least one copy really compressed"
    for quality, chance in ((100, 1.0), (30, 0.0)):  # quality 100, or no chance: uncompressed
        kept = augment_images(x, 1, [0], False, 0.0, 0.0, seed=3, photometric=Photometric(jpeg=quality), probability=chance)
        np.testing.assert_array_equal(kept, plain)


def test_quarter_turn_only_is_a_rotation():
    x = images(2)
    a = augment_images(x, 1, [90], flip=False, shear=0.0, zoom=0.0, seed=0)[:, 0]
    turned = [np.rot90(x[i], k, axes=(0, 1)) for i in range(2) for k in (1, 3)]
    assert any(np.abs(a[i // 2].astype(int) - t.astype(int)).mean() < 2 for i, t in enumerate(turned))


def test_augment_stage_covers_training_images_only(project: Path):
    fetch.main()
    split.main()
    augment.main()
    out = pd.read_csv("data/augmented/manifest.csv")
    s = pd.read_csv("data/split.csv")
    train = set(s.loc[s["subset"] == "train", "path"])
    assert set(out["source"]) == train
    assert len(out) == 2 * len(train)
    assert all((Path("data/augmented") / p).exists() for p in out["path"])
    assert Path("plots/augmentation.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("augment.rotations", []),
        ("augment.specks", 2),
        ("augment.probability", 1.5),
        ("augment.light_probability", -0.5),
        ("augment.specks_probability", 2),
        ("augment.line_probability", -1),
        ("augment.jpeg", 0.5),
        ("augment.jpeg", 101),
        ("augment.column_gain", -0.1),
        ("robustness.held_out", ["fog"]),
    ],
)
def test_a_wrong_augment_param_is_named_and_writes_nothing(project: Path, key: str, value):
    fetch.main()
    split.main()
    set_param(project, key, value)
    with pytest.raises(UserError, match=key):
        augment.main()
    assert not Path("data/augmented").exists()


def test_stripes_run_along_columns_and_rows_and_dead_columns_are_black_or_white():
    x = np.full((8, 12, 16, 1), 100.0)
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    from steel_defect.augmentation import sensor

    columns = sensor(x, Photometric(column_gain=0.1), rng())
    assert np.all(columns.std(axis=1) < 1e-9) and columns.std(axis=2).max() > 0, "one gain per column, the same down it"
    rows = sensor(x, Photometric(row_gain=0.1), rng())
    assert np.all(rows.std(axis=2) < 1e-9) and rows.std(axis=1).max() > 0
    dead = sensor(x, Photometric(dead_columns=3), rng())
    changed = np.any(dead != 100.0, axis=1)[..., 0]  # (n, width): columns that changed
    assert changed.sum(axis=1).max() <= 3 and changed.any()
    assert set(np.unique(dead[dead != 100.0])) <= {0.0, 255.0}


def test_a_held_out_family_never_reaches_the_augmented_copies(project: Path, monkeypatch: pytest.MonkeyPatch):
    """The default holds families out; augment runs without ever calling them, and refuses a param that would train on one."""
    fetch.main()
    split.main()
    set_param(project, "augment.noise", 10)
    set_param(project, "augment.column_gain", 0.03)
    set_param(project, "augment.jpeg", 50)  # the one change that goes through steel_defect.perturb itself
    held = ["row_jitter", "vignetting", "occlusion"]
    set_param(project, "robustness.held_out", held)

    def refuse(*args):
        raise AssertionError("a held-out perturbation was applied to a training copy")

    monkeypatch.setattr(perturb_module, "PERTURBATIONS", {**PERTURBATIONS, **dict.fromkeys(held, refuse)})
    augment.main()
    assert len(pd.read_csv("data/augmented/manifest.csv")) > 0

    set_param(project, "robustness.held_out", ["row_jitter", "column_gain"])
    with pytest.raises(UserError, match=r"'robustness.held_out' lists column_gain, but 'augment.column_gain' trains on it"):
        augment.main()
    set_param(project, "augment.column_gain", 0.0)
    set_param(project, "robustness.held_out", ["flip"])
    with pytest.raises(UserError, match=r"lists flip, but 'augment.horizontal_flip' trains on it"):
        augment.main()
