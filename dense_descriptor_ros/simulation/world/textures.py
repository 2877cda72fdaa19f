"""Textures for the simulated cell: product labels composed from public-domain photographs.

Photos come from :mod:`dense_descriptor_ros.data.photos` (bundled with Python and Debian packages,
nothing is downloaded; Debian ``opencv-doc``'s images are kept for evaluation and never used here); they
are cropped, recoloured and laid out with stripes, text and barcodes into packaging faces, so
that every object instance looks like a distinct printed product.
"""
from __future__ import annotations

import io
import string
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dense_descriptor_ros.data.photos import DEBIAN_PHOTOS, TEXTURE_PHOTOS, load_photo

LABEL_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "hubble_deep_field",
                "immunohistochemistry", "retina", "text", "horse")
# Only the ``train-wide`` products draw from these as well (the original labels stay as they were).
EXTRA_LABEL_PHOTOS = ("cell", "microaneurysms", "clock", "grace_hopper") + tuple(DEBIAN_PHOTOS)
# Order of the six faces in a MuJoCo cube texture laid out on a 3 x 4 grid.
CUBE_GRID_LAYOUT = ".U..LFRB.D.."


def random_colour(rng: np.random.Generator, saturation=(0.35, 0.95), value=(0.35, 0.95)) -> tuple:
    hsv = np.array([[[rng.integers(0, 256), rng.uniform(*saturation) * 255, rng.uniform(*value) * 255]]])
    rgb = Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")
    return tuple(int(c) for c in np.asarray(rgb)[0, 0])


def _contrasting(colour: tuple) -> tuple:
    return (15, 15, 20) if sum(colour) > 380 else (245, 245, 240)


def _recoloured_crop(rng: np.random.Generator, width: int, height: int, photos: tuple[str, ...]) -> Image.Image:
    """A random crop of a random photo of ``photos``, resized and given a random hue/tint."""
    photo = load_photo(photos[rng.integers(len(photos))])
    h, w = photo.shape[:2]
    ch = int(rng.uniform(0.3, 0.9) * h)
    cw = int(min(w, ch * width / height))
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = Image.fromarray(photo[y0:y0 + ch, x0:x0 + cw]).resize((width, height), Image.BILINEAR)
    hsv = np.asarray(crop.convert("HSV")).copy()
    style = rng.integers(3)
    if style == 0:  # hue rotation keeps the photo's structure with new colours
        hsv[..., 0] = (hsv[..., 0].astype(int) + rng.integers(0, 256)) % 256
    elif style == 1:  # duotone tint
        hsv[..., 0] = rng.integers(0, 256)
        hsv[..., 1] = np.maximum(hsv[..., 1], rng.integers(80, 220))
    return Image.fromarray(hsv, "HSV").convert("RGB")


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _brand(rng: np.random.Generator) -> str:
    letters = rng.choice(list(string.ascii_uppercase), size=rng.integers(3, 7))
    return "".join(letters)


def _draw_barcode(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple, ink: tuple) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=(250, 250, 250))
    x = x0 + 3
    while x < x1 - 3:
        bar = int(rng.integers(1, 4))
        if rng.random() < 0.55:
            draw.rectangle((x, y0 + 3, min(x + bar - 1, x1 - 3), y1 - 3), fill=ink)
        x += bar


def label_face(rng: np.random.Generator, size: int, kind: str, photos: tuple[str, ...] = LABEL_PHOTOS) -> np.ndarray:
    """One packaging face ``(size, size, 3)`` uint8: ``"front"`` (photo label), ``"side"``, ``"end"``."""
    if kind not in ("front", "side", "end"):
        raise ValueError(f"face kind must be front, side or end, got {kind!r}")
    base = random_colour(rng)
    ink = _contrasting(base)
    face = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(face)
    for _ in range(rng.integers(1, 4)):  # bands across the pack
        y = int(rng.integers(0, size))
        draw.rectangle((0, y, size, y + int(rng.integers(3, size // 5))), fill=random_colour(rng))
    if kind == "front":
        pw, ph = int(size * rng.uniform(0.45, 0.9)), int(size * rng.uniform(0.35, 0.7))
        px, py = int(rng.integers(0, size - pw + 1)), int(rng.integers(0, size - ph + 1))
        face.paste(_recoloured_crop(rng, pw, ph, photos), (px, py))
        draw.rectangle((px, py, px + pw - 1, py + ph - 1), outline=ink, width=2)
    elif kind == "end":
        bw, bh = size // 2, size // 4
        bx, by = int(rng.integers(2, size - bw - 1)), int(rng.integers(2, size - bh - 1))
        _draw_barcode(draw, rng, (bx, by, bx + bw, by + bh), (10, 10, 10))
    else:
        pw = int(size * rng.uniform(0.3, 0.5))
        face.paste(_recoloured_crop(rng, pw, pw, photos), (int(rng.integers(0, size - pw)), int(rng.integers(0, size - pw))))
    font = _font(max(10, size // int(rng.integers(5, 9))))
    for _ in range(rng.integers(1, 3)):
        draw.text((int(rng.integers(2, size // 2)), int(rng.integers(2, size - size // 5))), _brand(rng),
                  fill=ink, font=font)
    # print is never sharper than about a texel: keeps the colour of a surface point stable
    # across the texture mip levels that different viewing distances select
    return np.asarray(face.filter(ImageFilter.GaussianBlur(0.8)))


def package_faces(rng: np.random.Generator, size: int = 128, photos: tuple[str, ...] = LABEL_PHOTOS) -> list[np.ndarray]:
    """Six faces of one product, in the order of :data:`CUBE_GRID_LAYOUT` (U, L, F, R, B, D)."""
    kinds = ("end", "side", "front", "side", "front", "end")
    return [label_face(rng, size, kind, photos) for kind in kinds]


def cube_texture_png(faces: list[np.ndarray]) -> bytes:
    """Six square faces ``(S, S, 3)`` -> PNG bytes of a 3 x 4 cube-texture grid."""
    if len(faces) != 6 or any(f.shape != faces[0].shape or f.shape[0] != f.shape[1] for f in faces):
        raise ValueError("a cube texture needs six square faces of equal size")
    s = faces[0].shape[0]
    grid = np.zeros((3 * s, 4 * s, 3), np.uint8)
    slots = [i for i, c in enumerate(CUBE_GRID_LAYOUT) if c != "."]
    for face, slot in zip(faces, slots):
        r, c = divmod(slot, 4)
        grid[r * s:(r + 1) * s, c * s:(c + 1) * s] = face
    return png_bytes(grid)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode ``(H, W, 3)`` uint8 as PNG (MuJoCo rejects JPG for textures)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def floor_texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Square floor texture ``(size, size, 3)``: a tinted photo (brick/grass/gravel) or boards."""
    choice = rng.integers(len(TEXTURE_PHOTOS) + 1)
    if choice < len(TEXTURE_PHOTOS):
        photo = load_photo(TEXTURE_PHOTOS[choice]).astype(float) / 255.0
        crop = photo[:size, :size] if photo.shape[0] >= size else photo
        tint = np.array(random_colour(rng, (0.1, 0.5), (0.6, 1.0))) / 255.0
        image = Image.fromarray((crop * tint * 255).astype(np.uint8)).resize((size, size))
        return np.asarray(image)
    boards = np.zeros((size, size, 3))
    colour = np.array(random_colour(rng, (0.2, 0.6), (0.3, 0.8)), float)
    grain = np.sin(np.linspace(0, rng.uniform(20, 60), size))[None, :, None] * 12
    for y in range(0, size, size // 4):
        boards[y:y + size // 4] = colour * rng.uniform(0.8, 1.1) + grain
    boards[:: size // 4] = colour * 0.4
    return np.clip(boards, 0, 255).astype(np.uint8)


def bin_texture(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """Square plastic-bin texture ``(size, size, 3)``: a saturated colour with faint mottling."""
    colour = np.array(random_colour(rng, (0.2, 0.9), (0.25, 0.85)), float)
    noise = rng.normal(0.0, 6.0, (size // 8, size // 8, 1))
    noise = np.asarray(Image.fromarray(noise[..., 0].astype(np.float32)).resize((size, size), Image.BILINEAR))
    return np.clip(colour + noise[..., None], 0, 255).astype(np.uint8)
