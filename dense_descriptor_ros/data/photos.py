"""Real photographs with clear licences that install offline, for training only.

They come from scikit-image's and Matplotlib's bundled data and from two Debian packages
(``mate-backgrounds``, ``palapeli-data``; requirements/apt.txt). The simulated cell composes its
product labels from them, and ``ddr photos`` writes them out for identical-view training on real
images (``ddr train --photos``). Debian ``opencv-doc``'s images are never among them: those are
kept for evaluation.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

# Photographs bundled with Python packages: name -> source and licence, as their packages document.
PACKAGE_PHOTOS: dict[str, str] = {
    "astronaut": "NASA Great Images database; public domain (US government work)",
    "camera": "Lav Varshney; CC0",
    "chelsea": "Stefan van der Walt; CC0",
    "coffee": "Rachel Michetti; CC0",
    "coins": "Brooklyn Museum Collection; no known copyright restrictions",
    "rocket": "SpaceX Photos; released into the public domain",
    "hubble_deep_field": "NASA / HubbleSite; public domain",
    "immunohistochemistry": "Center for Microscopy And Molecular Imaging; no known copyright restrictions",
    "retina": "Mikael Häggström via Wikimedia Commons; CC0",
    "text": "Wikipedia File:Corner.png; public domain",
    "horse": "openclipart, Andreas Preuss (marauder); CC0",
    "cell": "Paul Müller et al. (Guck lab), quantitative phase image; CC0",
    "microaneurysms": "Andreas Maier; CC0",
    "clock": "Stefan van der Walt; public domain (released by the photographer)",
    "grace_hopper": "US Navy photograph (Matplotlib sample data); public domain (US government work)",
    "brick": "CC0Textures Bricks25; CC0",
    "grass": "DeviantArt linolafett Grass-01; CC0",
    "gravel": "CC0Textures Gravel04; CC0",
}

_PALAPELI = "/usr/share/palapeli/collection"


def _mate(file: str, authors: str) -> tuple[str, str, str]:
    """A photograph of Debian's mate-backgrounds (GPL-2+ throughout, per its copyright file)."""
    return "mate-backgrounds", f"/usr/share/backgrounds/mate/{file}", f"{authors}; GPL-2+"


# Photographs from Debian packages: name -> (package, file, source and licence from the
# package's copyright file or the photo's .desktop entry).
DEBIAN_PHOTOS: dict[str, tuple[str, str, str]] = {
    "mate_aqua": _mate("nature/Aqua.jpg", "Charles Barbin"),
    "mate_blinds": _mate("nature/Blinds.jpg", "Lennart Poettering, Andrea Cimitan"),
    "mate_dune": _mate("nature/Dune.jpg", "Marco Cogoni, Hylke Bons"),
    "mate_fresh_flower": _mate("nature/FreshFlower.jpg", "Jens Ansorg"),
    "mate_garden": _mate("nature/Garden.jpg", "Charles Barbin"),
    "mate_green_meadow": _mate("nature/GreenMeadow.jpg", "Timothy Schellhase, Lapo Calamandrei"),
    "mate_lady_bird": _mate("nature/LadyBird.jpg", "Charles Barbin"),
    "mate_rain_drops": _mate("nature/RainDrops.jpg", "blackcombwhistler07"),
    "mate_storm": _mate("nature/Storm.jpg", "Sergey Nazarov"),
    "mate_two_wings": _mate("nature/TwoWings.jpg", "Charles Barbin, Hylke Bons"),
    "mate_wood": _mate("nature/Wood.jpg", "Jean-François Fortin Tam"),
    "mate_yellow_flower": _mate("nature/YellowFlower.jpg", "Charles Barbin"),
    "mate_green_traditional": _mate("desktop/GreenTraditional.jpg", "l0r4n0n (Stefan Geissler)"),
    "castle_maintenon": ("palapeli-data", f"{_PALAPELI}/castle-maintenon.jpg", "Eric Pouhier; GNU FDL"),
    "cincinnati_bridge": ("palapeli-data", f"{_PALAPELI}/cincinnati-bridge.jpg", "Derek Jensen; public domain"),
    "citrus_fruits": ("palapeli-data", f"{_PALAPELI}/citrus-fruits.jpg",
                      "US Department of Agriculture; public domain"),
    "honey_bee": ("palapeli-data", f"{_PALAPELI}/european-honey-bee.jpg", "John Severns; public domain"),
    "chameleon": ("palapeli-data", f"{_PALAPELI}/panther-chameleon-female.jpg",
                  "B. Navez and others; GNU FDL"),
}

TEXTURE_PHOTOS = ("brick", "grass", "gravel")  # surfaces, not scenes: the cell's floor only
# What ``ddr photos`` writes: every photograph of a scene or an object.
TRAINING_PHOTOS = tuple(name for name in PACKAGE_PHOTOS if name not in TEXTURE_PHOTOS) + tuple(DEBIAN_PHOTOS)
LICENCE_FILE = "LICENCES.json"
DEBIAN_MAX_SIDE = 1024


def licence_record() -> dict[str, str]:
    """Source and licence of every photograph this module can load."""
    return {**PACKAGE_PHOTOS, **{name: f"{licence} (Debian {package})"
                                 for name, (package, _, licence) in DEBIAN_PHOTOS.items()}}


@lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """One photograph as ``(H, W, 3)`` uint8 RGB (grey images replicated)."""
    if name in DEBIAN_PHOTOS:
        package, path, _ = DEBIAN_PHOTOS[name]
        if not Path(path).is_file():
            raise FileNotFoundError(f"photo {name!r} needs the Debian package {package} ({path} is "
                                    "missing): run scripts/install_system_packages.sh")
        with Image.open(path) as img:  # wallpapers run to 2560 px: more than any use here needs
            image = np.asarray(_shrunk(img, DEBIAN_MAX_SIDE).convert("RGB"))
    elif name == "grace_hopper":
        from matplotlib import cbook  # imported lazily: only photo users need it

        image = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    elif name in PACKAGE_PHOTOS:
        from skimage import data

        image = np.asarray(getattr(data, name)())
    else:
        raise ValueError(f"unknown photo {name!r}; expected one of {sorted(licence_record())}")
    if image.dtype == bool:
        image = np.where(image, 30, 235).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def _shrunk(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` (changed in place) no longer than ``max_side`` on either side, aspect kept."""
    image.thumbnail((max_side, max_side), Image.LANCZOS)
    return image


def write_photos(out_dir: str | Path, max_side: int = 640) -> list[Path]:
    """Every training photograph as a PNG no longer than ``max_side`` (about the camera's
    resolution, so training crops see scenes at the scale frames show them), with
    ``LICENCES.json`` naming each file's source and licence."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    licences, written = licence_record(), []
    for name in TRAINING_PHOTOS:
        path = out / f"{name}.png"
        _shrunk(Image.fromarray(load_photo(name)), max_side).save(path)
        written.append(path)
    (out / LICENCE_FILE).write_text(json.dumps({p.name: licences[p.stem] for p in written}, indent=1,
                                               ensure_ascii=False) + "\n")
    return written
