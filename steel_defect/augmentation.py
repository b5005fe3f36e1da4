"""The paper's augmentation (rotation, flip, shear, zoom) plus photometric changes, seeded.

Geometric steps and brightness/contrast are Keras preprocessing layers. Keras has no layer for a
random gain, for Gaussian noise of a random sigma or for salt-and-pepper specks, so those are a few
seeded NumPy lines here, written apart from `steel_defect.perturb` on purpose: the robustness stage
tests with its own generator, not with the one the model trained on. Blur is SciPy's Gaussian
filter with reflected edges, one sigma per image: Keras's RandomGaussianBlur draws one sigma per
batch and pads with zeros, which darkens a border the model could learn to read. The robustness
stage blurs with the same filter, so its Gaussian-blur rows up to `augment.blur` measure a change
the model was shown. JPEG compression (a camera
or a frame grabber that stores JPEG) comes last, through the robustness stage's own JPEG perturbation
(Pillow's encoder: no random draws to keep apart); a copy draws its quality from `jpeg` to 100, and
100 leaves it uncompressed.

`probability` below 1 applies each change to a copy only with that chance, each change drawn on its
own (brightness and contrast, the Keras layers, come or go together). At 1 every copy carries every
change at once (a blurred copy is almost always noisy too), while the robustness stage and a camera
fault apply one at a time: the model trained at 1 read a blurred test image better with noise added
on top than alone (docs/experiments.md).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np
from scipy import ndimage

from steel_defect.errors import UserError
from steel_defect.params import get, number
from steel_defect.perturb import PERTURBATIONS, perturb


@dataclass(frozen=True)
class Photometric:
    """Largest strength of each photometric change; each copy draws its own, uniformly, from 0 to it.

    A camera over a strip mill sees sensor noise, dust specks and changing light (the robustness
    stage measures them); all zero leaves the copies purely geometric.
    """

    brightness: float = 0.0  # offset up to +-this fraction of the range (keras RandomBrightness)
    contrast: float = 0.0  # distance from the mean times 1 +- up to this (keras RandomContrast)
    gain: float = 0.0  # pixels times 1 +- up to this
    noise: float = 0.0  # Gaussian noise, sigma up to this many pixel levels
    specks: float = 0.0  # up to this fraction of pixels set to black or white
    blur: float = 0.0  # Gaussian blur, sigma up to this many pixels
    jpeg: float = 0.0  # JPEG compression at a quality from this up to 100 (0: none); the one lower-is-stronger key
    # a line-scan camera's artefacts (steel_defect.perturb names them alike)
    column_gain: float = 0.0  # per-column gains from N(1, sigma), sigma up to this
    row_gain: float = 0.0  # per-row gains from N(1, sigma), sigma up to this
    dead_columns: float = 0.0  # up to this many columns stuck at 0 or 255

    def any(self) -> bool:
        return any(astuple(self))

    def line_camera(self) -> bool:
        return bool(self.column_gain or self.row_gain or self.dead_columns)


# The robustness stage's perturbation families each augmentation key trains on (None: on when truthy).
# A family the params hold out of training (`robustness.held_out`) must not be among them.
TRAINS = {
    "brightness": "brightness",
    "contrast": "contrast",
    "gain": "gain",
    "noise": "gaussian_noise",
    "specks": "salt_pepper",
    "blur": "gaussian_blur",
    "jpeg": "jpeg_quality",
    "column_gain": "column_gain",
    "row_gain": "row_gain",
    "dead_columns": "dead_columns",
}


def _jpeg_quality(params: dict) -> float:
    """augment.jpeg: 0 (off, also when absent) or the lowest JPEG quality a copy is compressed at, 1 to 100."""
    quality = number(params, "augment.jpeg", 0.0, 100.0, default=0.0)
    if 0 < quality < 1:
        raise UserError(f"params.yaml: 'augment.jpeg' is {quality:g}; expected 0 (off) or the lowest JPEG quality, 1 to 100")
    return quality


def photometric_params(params: dict) -> Photometric:
    """The photometric and line-camera changes in params.yaml's augment section, checked."""
    return Photometric(
        brightness=number(params, "augment.brightness", 0.0, 1.0),
        contrast=number(params, "augment.contrast", 0.0, 1.0),
        gain=number(params, "augment.gain", 0.0, 1.0),
        noise=number(params, "augment.noise", 0.0, 255.0),
        specks=number(params, "augment.specks", 0.0, 1.0),
        blur=number(params, "augment.blur", 0.0, 10.0),
        jpeg=_jpeg_quality(params),
        column_gain=number(params, "augment.column_gain", 0.0, 1.0, default=0.0),
        row_gain=number(params, "augment.row_gain", 0.0, 1.0, default=0.0),
        dead_columns=float(number(params, "augment.dead_columns", 0.0, 100.0, default=0.0)),
    )


def held_out_params(params: dict) -> list[str]:
    """robustness.held_out: the perturbation families kept out of training, each a known family listed once."""
    names = get(params, "robustness.held_out", None) or []
    if not isinstance(names, list) or any(n not in PERTURBATIONS for n in names) or len(set(names)) != len(names):
        raise UserError(f"params.yaml: 'robustness.held_out' is {names}; list each once, from {', '.join(PERTURBATIONS)}")
    return names


def trained_families(photometric: Photometric, rotations: list[float], horizontal_flip: bool) -> set[str]:
    """The robustness families the augmented copies show the model: photometric changes that are on, and tilt and flips."""
    families = {family for key, family in TRAINS.items() if getattr(photometric, key)}
    if any(float(a) % 360 for a in rotations):
        families |= {"rotation", "flip"}  # 90 and 180 degree turns are flips' near-equivalents, so both count
    if horizontal_flip:
        families.add("flip")
    return families


def check_held_out(held_out: list[str], trained: set[str]) -> None:
    """One line naming each held-out family the augmentation would train on, and what to change."""
    leaked = [name for name in held_out if name in trained]
    if leaked:
        keys = {family: key for key, family in TRAINS.items()} | {"rotation": "rotations", "flip": "horizontal_flip"}
        raise UserError(
            f"params.yaml: 'robustness.held_out' lists {', '.join(leaked)}, but "
            + ", ".join(f"'augment.{keys[n]}'" for n in leaked)
            + " trains on it; turn that off or take it out of robustness.held_out"
        )


def _on(rng: np.random.Generator, n: int, probability: float) -> np.ndarray:
    """Per image, 1 where a change applies and 0 where not; no draw at all when every image gets it,
    so that probability 1 reproduces the copies made before the option existed."""
    return np.ones(n) if probability >= 1 else (rng.random(n) < probability).astype(float)


def _per_image(rng: np.random.Generator, n: int, probability: float) -> np.ndarray:
    """`_on`, shaped (n, 1, 1, 1) to scale whole images."""
    return _on(rng, n, probability).reshape(n, 1, 1, 1)


def sensor(
    x: np.ndarray,
    photometric: Photometric,
    rng: np.random.Generator,
    probability: float = 1.0,
    specks_probability: float | None = None,
    line_probability: float | None = None,
) -> np.ndarray:
    """Blur (the optics), then gain, stripes, noise, specks, dead columns (the sensor), then JPEG, on float pixels (n, h, w, c).

    Each image draws its own strengths from `rng`, and, with `probability` < 1, whether it gets each
    change (a change it does not get has strength 0). The draws at probability 1 are those made
    before the option existed, in the same order, so the default's copies are unchanged.
    `specks_probability` is the specks' own chance (None: `probability`, draw for draw), and
    `line_probability` that of each line-camera change (column and row stripes, dead columns).
    """
    n = len(x)
    line_chance = probability if line_probability is None else line_probability
    if photometric.blur:
        sigmas = rng.uniform(0, photometric.blur, n) * _on(rng, n, probability)
        x = np.stack([ndimage.gaussian_filter(one, sigma=(s, s, 0), mode="reflect") for one, s in zip(x, sigmas, strict=True)])
    if photometric.gain:
        gains = rng.uniform(1 - photometric.gain, 1 + photometric.gain, (n, 1, 1, 1))
        x = x * np.where(_per_image(rng, n, probability), gains, 1.0)
    for key, axis in (("column_gain", 2), ("row_gain", 1)):  # drawn only when on: the default's copies stay as they were
        if getattr(photometric, key):
            sigmas = rng.uniform(0, getattr(photometric, key), n) * _on(rng, n, line_chance)
            shape = [n, 1, 1, 1]
            shape[axis] = x.shape[axis]
            x = x * (1.0 + rng.normal(size=shape) * sigmas.reshape(n, 1, 1, 1))
    if photometric.noise:
        noise = rng.normal(size=x.shape) * rng.uniform(0, photometric.noise, (n, 1, 1, 1))
        x = x + noise * _per_image(rng, n, probability)
    if photometric.specks:
        pixels = rng.random(x.shape[:3])
        speck_chance = probability if specks_probability is None else specks_probability
        fractions = rng.uniform(0, photometric.specks, (n, 1, 1)) * _per_image(rng, n, speck_chance)[..., 0]
        hit = pixels < fractions  # all channels of a pixel
        x = np.where(hit[..., None], np.where(rng.random(x.shape[:3]) < 0.5, 0.0, 255.0)[..., None], x)
    if photometric.dead_columns:
        counts = rng.integers(0, int(photometric.dead_columns) + 1, n) * _on(rng, n, line_chance).astype(int)
        x = np.array(x, dtype=float)
        for i, count in enumerate(counts):
            columns = rng.choice(x.shape[2], min(count, x.shape[2]), replace=False)
            x[i, :, columns] = 255.0 * rng.integers(0, 2, (len(columns), 1, 1))
    if photometric.jpeg:
        qualities = rng.integers(int(round(photometric.jpeg)), 101, n)
        on = _on(rng, n, probability)
        qualities = np.where(on > 0, qualities, 100)  # 100: uncompressed
        x = np.array(x, dtype=float)
        for quality in np.unique(qualities[qualities < 100]):
            same = qualities == quality
            x[same] = perturb(x[same], "jpeg_quality", float(quality))  # the robustness stage's encoder; no draws
    return x


def build_augmenter(angle: float, flip: bool, shear: float, zoom: float, seed: int, photometric: Photometric = Photometric()):
    """A Sequential of Keras random layers; `angle` (degrees) is fixed so rotations come from a set."""
    import keras
    from keras import layers

    turn = angle / 360.0
    steps = [layers.RandomRotation((turn, turn), fill_mode="reflect", seed=seed)] if angle else []
    if flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed + 1))
    if shear:
        steps.append(layers.RandomShear(x_factor=shear, y_factor=shear, fill_mode="reflect", seed=seed + 2))
    if zoom:
        steps.append(layers.RandomZoom((-zoom, zoom), fill_mode="reflect", seed=seed + 3))
    steps += light_layers(photometric, seed)
    return keras.Sequential(steps or [layers.Identity()])


def light_layers(photometric: Photometric, seed: int) -> list:
    """The Keras photometric layers (brightness, then contrast), seeded as `build_augmenter` seeds them."""
    from keras import layers

    steps = []
    if photometric.brightness:
        steps.append(layers.RandomBrightness(photometric.brightness, value_range=(0, 255), seed=seed + 4))
    if photometric.contrast:
        steps.append(layers.RandomContrast(photometric.contrast, value_range=(0, 255), seed=seed + 5))
    return steps


def augment_images(
    images: np.ndarray,
    copies: int,
    angles: list[float],
    flip: bool,
    shear: float,
    zoom: float,
    seed: int,
    photometric: Photometric | None = None,
    batch_size: int = 64,
    probability: float = 1.0,
    light_probability: float | None = None,
    specks_probability: float | None = None,
    line_probability: float | None = None,
) -> np.ndarray:
    """Return (n, copies, h, w, c) uint8 variants of (n, h, w, c) uint8 images.

    Each variant draws one angle from `angles`; images sharing an angle go through the layers in
    batches. Photometric changes come after the geometric ones, from a generator of their own, so
    turning them off gives the same images as before they existed. With `probability` < 1 each
    change reaches a copy only with that chance; the Keras ones (brightness, contrast) then run
    as a Sequential of their own after the geometric one, and are kept where drawn.
    `light_probability` gives brightness and contrast a chance of their own (None: `probability`):
    at 1 with `probability` 0.5 every copy is lit while each sensor change reaches half of them,
    because the robustness stage's brightening by 20% was the setting the half-lit model missed most.
    `specks_probability` does the same for salt-and-pepper specks (None: `probability`), which
    became the setting missed most once every copy was lit. `line_probability` does the same for
    each line-camera change, so stripes and dead columns can come rarer than the other faults.
    """
    import keras

    if not angles:
        raise UserError("params.yaml: 'augment.rotations' is empty; list at least one angle, e.g. [0]")
    if not 0 <= probability <= 1:
        raise UserError(f"params.yaml: 'augment.probability' is {probability}; expected a chance from 0 to 1")
    lit_chance = probability if light_probability is None else light_probability
    if not 0 <= lit_chance <= 1:
        raise UserError(f"params.yaml: 'augment.light_probability' is {light_probability}; expected null or a chance from 0 to 1")
    for key, chance in (("specks_probability", specks_probability), ("line_probability", line_probability)):
        if chance is not None and not 0 <= chance <= 1:
            raise UserError(f"params.yaml: 'augment.{key}' is {chance}; expected null or a chance from 0 to 1")
    rng = np.random.default_rng(seed)
    photometric = photometric or Photometric()
    light = np.random.default_rng([seed, 1])
    seeds = {a: seed + 10 * i for i, a in enumerate(sorted(set(angles)))}
    apart = lit_chance < 1 and bool(photometric.brightness or photometric.contrast)  # Keras light on some copies only
    augmenters = {a: build_augmenter(a, flip, shear, zoom, s, Photometric() if apart else photometric) for a, s in seeds.items()}
    lighting = {a: keras.Sequential(light_layers(photometric, s)) for a, s in seeds.items()} if apart else {}
    out = np.empty((len(images), copies, *images.shape[1:]), np.uint8)
    for copy in range(copies):
        chosen = rng.choice(np.asarray(angles, dtype=float), size=len(images))
        for angle, augmenter in augmenters.items():
            index = np.flatnonzero(chosen == angle)
            for start in range(0, len(index), batch_size):
                batch = index[start : start + batch_size]
                result = np.asarray(augmenter(images[batch].astype("float32"), training=True))
                if apart:  # the geometric result, lit where a copy draws the light
                    lit = _per_image(light, len(batch), lit_chance) > 0
                    result = np.where(lit, np.asarray(lighting[angle](result, training=True)), result)
                if photometric.any():
                    result = sensor(result, photometric, light, probability, specks_probability, line_probability)
                out[batch, copy] = np.clip(np.rint(result), 0, 255).astype(np.uint8)
    return out
