"""The product catalogue: object types (shapes) and textured instances of them.

An instance is a type plus its own printed label; instance ids are global and stable (the same
id looks the same in every dataset), which is what lets two different scenes share objects and
lets the comparison hold out instances: variant ``TEST_VARIANT`` of every type is never used
for training. The ``train-wide`` set adds ``EXTRA_VARIANTS`` more training products per type,
labelled from a larger photo pool; the original instances and their labels are unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATALOGUE_SEED = 20240903  # fixes every instance's label, independent of any dataset seed
VARIANTS_PER_TYPE = 3
TEST_VARIANT = VARIANTS_PER_TYPE - 1
EXTRA_VARIANTS = 8  # training-only products per type in ``train-wide``
OBJECT_SETS = ("train", "test", "all", "train-wide")


@dataclass(frozen=True)
class Part:
    """One collision/visual primitive of an object, in the object frame (metres)."""

    shape: str  # MuJoCo geom type: box, cylinder, capsule, ellipsoid
    size: tuple[float, ...]  # MuJoCo half-size convention for ``shape``
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    labelled: bool = True  # False: plain coloured part (bottle cap, lid)


@dataclass(frozen=True)
class ObjectType:
    """A packaged-product shape; ``density`` in kg/m^3 sets its mass."""

    name: str
    parts: tuple[Part, ...]
    density: float = 400.0

    @property
    def radius(self) -> float:
        """Radius of a sphere around the object frame's origin that contains every part."""
        return max(float(np.linalg.norm(p.offset) + np.linalg.norm(p.size)) for p in self.parts)


def _one(name: str, shape: str, size: tuple[float, ...], density: float = 400.0) -> ObjectType:
    return ObjectType(name, (Part(shape, size),), density)


OBJECT_TYPES: tuple[ObjectType, ...] = (
    _one("cereal_box", "box", (0.035, 0.06, 0.085), 250.0),
    _one("cube_box", "box", (0.04, 0.04, 0.04), 300.0),
    _one("tea_box", "box", (0.035, 0.055, 0.03), 300.0),
    _one("toothpaste_box", "box", (0.02, 0.025, 0.085), 300.0),
    _one("flat_box", "box", (0.07, 0.05, 0.012), 350.0),
    _one("blister_pack", "box", (0.055, 0.075, 0.005), 500.0),
    _one("envelope", "box", (0.08, 0.055, 0.003), 600.0),
    ObjectType("bottle", (Part("cylinder", (0.03, 0.075)),
                          Part("cylinder", (0.013, 0.012), (0.0, 0.0, 0.087), labelled=False)), 500.0),
    _one("can", "cylinder", (0.033, 0.045), 700.0),
    ObjectType("jar", (Part("cylinder", (0.045, 0.035)),
                       Part("cylinder", (0.047, 0.006), (0.0, 0.0, 0.041), labelled=False)), 600.0),
    _one("tube", "capsule", (0.018, 0.06), 500.0),
    _one("pouch", "ellipsoid", (0.07, 0.05, 0.015), 500.0),
    _one("sachet", "ellipsoid", (0.045, 0.035, 0.01), 500.0),
    _one("snack_bag", "ellipsoid", (0.09, 0.065, 0.025), 150.0),
)


@dataclass(frozen=True)
class ObjectInstance:
    """A concrete product: ``instance_id`` >= 1 is also its value in segmentation masks."""

    instance_id: int
    type: ObjectType
    variant: int

    @property
    def name(self) -> str:
        return f"{self.type.name}_{self.variant}"

    @property
    def extra(self) -> bool:
        """A ``train-wide`` product: labelled from the larger photo pool, never in a test set."""
        return self.variant >= VARIANTS_PER_TYPE

    def texture_rng(self) -> np.random.Generator:
        """Generator that fixes this instance's label, independent of any dataset seed."""
        return np.random.default_rng([CATALOGUE_SEED, self.instance_id])


def catalogue(object_set: str = "all") -> list[ObjectInstance]:
    """Every instance in ``object_set``: ``train`` (variants seen in training), ``test``, ``all``
    (train and test), ``train-wide`` (train plus ``EXTRA_VARIANTS`` products per type)."""
    if object_set not in OBJECT_SETS:
        raise ValueError(f"object set must be one of {OBJECT_SETS}, got {object_set!r}")
    instances = []
    for t, object_type in enumerate(OBJECT_TYPES):
        for variant in range(VARIANTS_PER_TYPE):
            held_out = variant == TEST_VARIANT
            if object_set == "all" or (object_set == "test") == held_out:
                instances.append(ObjectInstance(t * VARIANTS_PER_TYPE + variant + 1, object_type, variant))
    if object_set == "train-wide":  # ids after every original instance's, so those never change
        first = len(OBJECT_TYPES) * VARIANTS_PER_TYPE + 1
        instances += [ObjectInstance(first + t * EXTRA_VARIANTS + k, object_type, VARIANTS_PER_TYPE + k)
                      for t, object_type in enumerate(OBJECT_TYPES) for k in range(EXTRA_VARIANTS)]
    return instances


def sample_instances(rng: np.random.Generator, count: int, object_set: str = "all") -> list[ObjectInstance]:
    """``count`` distinct instances drawn from ``object_set``."""
    pool = catalogue(object_set)
    if not 1 <= count <= len(pool):
        raise ValueError(f"cannot draw {count} objects from the {len(pool)} in set {object_set!r}")
    return [pool[i] for i in sorted(rng.choice(len(pool), size=count, replace=False))]
