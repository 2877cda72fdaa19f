"""MJCF of one bin-picking scene: floor, bin, lights, cameras, objects and optional hands.

A :class:`SceneSpec` says what is in the scene (which object instances, which background, hands
or not, lighting); :func:`build_mjcf` turns it into MJCF text plus in-memory PNG assets, so no
file is written and the same spec always compiles to the same model.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import textures
from .objects import ObjectInstance

BIN_HALF_SIZE = (0.29, 0.21)  # inner half extents along world x and y (metres)
BIN_FLOOR_Z = 0.02  # height of the bin's inner floor surface above the world floor
BIN_WALL_HEIGHT = 0.12
BIN_WALL_THICKNESS = 0.01
OVERHEAD_HEIGHT = 1.05  # fixed overhead camera above the world floor, looking straight down
OVERHEAD_FOVY = 32.0
ROBOT_FOVY = 42.0
HAND_COUNT = 2
DISTRACTOR_ID = 65535  # segmentation value of the operator's hands
SKIN_TONES = ((0.96, 0.80, 0.69), (0.87, 0.67, 0.53), (0.76, 0.57, 0.45), (0.55, 0.38, 0.26),
              (0.36, 0.24, 0.16))


@dataclass(frozen=True)
class SceneSpec:
    """What one scene contains; ``background_seed`` fixes the floor and bin textures."""

    instances: tuple[ObjectInstance, ...]
    background_seed: int
    hands: bool = False
    flat_lighting: bool = False  # ambient-only light: a surface's colour is view-independent
    shadows: bool = False
    max_width: int = 640
    max_height: int = 480

    def __post_init__(self) -> None:
        ids = [inst.instance_id for inst in self.instances]
        if not ids:
            raise ValueError("a scene needs at least one object instance")
        if len(set(ids)) != len(ids):
            raise ValueError(f"object instances in a scene must be distinct, got ids {ids}")


def overhead_camera_pose() -> np.ndarray:
    """``T_world_camera (4, 4)`` of the fixed overhead camera (ROS optical frame: x right, y down,
    z forward): ``OVERHEAD_HEIGHT`` above the bin centre, looking straight down. The one source
    of the simulated cell's camera pose for the grasp nodes (a test holds renders to it)."""
    pose = np.diag([1.0, -1.0, -1.0, 1.0])
    pose[2, 3] = OVERHEAD_HEIGHT
    return pose


def object_body(instance_id: int) -> str:
    return f"object_{instance_id}"


def hand_body(index: int) -> str:
    return f"hand_{index}"


def _vec(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def _bin_geoms() -> list[str]:
    hx, hy = BIN_HALF_SIZE
    t, h = BIN_WALL_THICKNESS, BIN_WALL_HEIGHT
    zc = BIN_FLOOR_Z + h / 2
    boxes = [((0, 0, BIN_FLOOR_Z / 2), (hx + t, hy + t, BIN_FLOOR_Z / 2)),
             ((hx + t / 2, 0, zc), (t / 2, hy + t, h / 2)), ((-hx - t / 2, 0, zc), (t / 2, hy + t, h / 2)),
             ((0, hy + t / 2, zc), (hx, t / 2, h / 2)), ((0, -hy - t / 2, zc), (hx, t / 2, h / 2))]
    return [f'<geom name="bin_{i}" type="box" pos="{_vec(p)}" size="{_vec(s)}" material="bin"/>'
            for i, (p, s) in enumerate(boxes)]


def _object_xml(inst: ObjectInstance, rng: np.random.Generator) -> str:
    cap = np.array(textures.random_colour(rng)) / 255.0
    geoms = []
    for k, part in enumerate(inst.type.parts):
        look = f'material="mat_{inst.instance_id}"' if part.labelled else f'rgba="{_vec(cap)} 1"'
        geoms.append(f'<geom name="{object_body(inst.instance_id)}_{k}" type="{part.shape}" '
                     f'size="{_vec(part.size)}" pos="{_vec(part.offset)}" {look} '
                     f'density="{inst.type.density}" friction="0.8 0.01 0.001"/>')
    return (f'<body name="{object_body(inst.instance_id)}" pos="0 0 -1"><freejoint/>'
            + "".join(geoms) + "</body>")


def _hand_xml(index: int, rng: np.random.Generator) -> str:
    skin = _vec(SKIN_TONES[rng.integers(len(SKIN_TONES))]) + " 1"
    sleeve = _vec(np.array(textures.random_colour(rng)) / 255.0) + " 1"
    geoms = [f'<geom type="capsule" fromto="-0.32 0 0 -0.07 0 0" size="0.038" rgba="{sleeve}"/>',
             f'<geom type="box" size="0.05 0.045 0.014" rgba="{skin}"/>',
             f'<geom type="capsule" fromto="0.0 0.04 0 0.04 0.075 0" size="0.011" rgba="{skin}"/>']
    for y in (-0.033, -0.011, 0.011, 0.033):
        geoms.append(f'<geom type="capsule" fromto="0.05 {y} 0 0.1 {y} -0.01" size="0.009" rgba="{skin}"/>')
    return (f'<body name="{hand_body(index)}" mocap="true" pos="{10 + index} 0 0">'
            + "".join(g.replace("<geom ", '<geom contype="0" conaffinity="0" ') for g in geoms) + "</body>")


@lru_cache(maxsize=64)
def instance_texture(instance: ObjectInstance, texture_size: int) -> bytes:
    """PNG cube texture of one instance (cached: scenes share instances)."""
    photos = textures.LABEL_PHOTOS + textures.EXTRA_LABEL_PHOTOS if instance.extra else textures.LABEL_PHOTOS
    return textures.cube_texture_png(textures.package_faces(instance.texture_rng(), texture_size, photos))


def build_mjcf(spec: SceneSpec, texture_size: int = 128) -> tuple[str, dict[str, bytes]]:
    """MJCF text and its PNG assets (name -> bytes) for ``spec``."""
    rng = np.random.default_rng(spec.background_seed)
    assets = {"floor.png": textures.png_bytes(textures.floor_texture(rng)),
              "bin.png": textures.png_bytes(textures.bin_texture(rng))}
    specular = 0.0 if spec.flat_lighting else 0.25
    asset_xml = ['<texture name="floor" type="2d" file="floor.png"/>',
                 '<material name="floor" texture="floor" texrepeat="3 3" specular="0"/>',
                 '<texture name="bin" type="cube" file="bin.png"/>',
                 f'<material name="bin" texture="bin" specular="{specular / 2}"/>']
    bodies = []
    for inst in spec.instances:
        name = f"obj_{inst.instance_id}.png"
        assets[name] = instance_texture(inst, texture_size)
        asset_xml.append(f'<texture name="tex_{inst.instance_id}" type="cube" file="{name}" '
                         f'gridsize="3 4" gridlayout="{textures.CUBE_GRID_LAYOUT}"/>')
        asset_xml.append(f'<material name="mat_{inst.instance_id}" texture="tex_{inst.instance_id}" '
                         f'specular="{specular}" shininess="0.3"/>')
        bodies.append(_object_xml(inst, inst.texture_rng()))
    if spec.hands:
        bodies.extend(_hand_xml(i, rng) for i in range(HAND_COUNT))
    if spec.flat_lighting:
        lights = '<headlight ambient="1 1 1" diffuse="0 0 0" specular="0 0 0"/>'
        light_bodies = ""
    else:
        lights = '<headlight ambient="0.3 0.3 0.3" diffuse="0.25 0.25 0.25" specular="0.05 0.05 0.05"/>'
        shadow = "true" if spec.shadows else "false"
        light_bodies = (f'<light directional="true" pos="0.3 -0.4 2" dir="-0.2 0.3 -1" diffuse="0.55 0.55 0.55" '
                        f'specular="0.2 0.2 0.2" castshadow="{shadow}"/>')
    overhead = np.array([0.0, 0.0, OVERHEAD_HEIGHT])
    xml = f"""<mujoco model="bin_cell">
  <compiler angle="radian"/>
  <option timestep="0.002" gravity="0 0 -9.81"/>
  <statistic extent="1" center="0 0 0.1"/>
  <visual>
    <global offwidth="{spec.max_width}" offheight="{spec.max_height}"/>
    <quality shadowsize="{2048 if spec.shadows else 0}"/>
    <map znear="0.02" zfar="6"/>
    {lights}
  </visual>
  <asset>{"".join(asset_xml)}</asset>
  <worldbody>
    {light_bodies}
    <geom name="floor" type="plane" size="3 3 0.1" material="floor"/>
    {"".join(_bin_geoms())}
    <camera name="overhead" pos="{_vec(overhead)}" xyaxes="1 0 0 0 1 0" fovy="{OVERHEAD_FOVY}"/>
    <camera name="robot" pos="0 -0.5 0.6" xyaxes="1 0 0 0 0.7 0.7" fovy="{ROBOT_FOVY}"/>
    {"".join(bodies)}
  </worldbody>
</mujoco>"""
    return xml, assets
