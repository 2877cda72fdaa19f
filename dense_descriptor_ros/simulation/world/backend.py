"""Pick MuJoCo's offscreen OpenGL backend before ``mujoco`` is imported.

MuJoCo reads ``MUJOCO_GL`` once, at import time, so the choice has to be made here and every
simulation module imports ``mujoco`` through :func:`load_mujoco`. Headless machines have no
GLFW window, so the order is EGL (Mesa llvmpipe or a GPU) and then OSMesa.
"""
from __future__ import annotations

import ctypes
import importlib
import os
import sys
from types import ModuleType

# Shared libraries each backend needs (Debian packages in requirements/apt.txt).
_BACKEND_LIBRARIES = {
    "egl": ("libEGL.so.1", "libOpenGL.so.0"),
    "osmesa": ("libOSMesa.so.8", "libOSMesa.so.6"),
}


class RenderBackendError(RuntimeError):
    """No usable offscreen OpenGL backend for MuJoCo."""


def _loadable(names: tuple[str, ...], need_all: bool) -> bool:
    found = []
    for name in names:
        try:
            ctypes.CDLL(name)
            found.append(True)
        except OSError:
            found.append(False)
    return all(found) if need_all else any(found)


def select_gl_backend() -> str:
    """Set ``MUJOCO_GL`` (egl, else osmesa) unless the user already chose one; return it."""
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    if "mujoco" in sys.modules:
        raise RenderBackendError("mujoco was imported before the simulation chose MUJOCO_GL; "
                                 "import dense_descriptor_ros.simulation first or set MUJOCO_GL")
    if _loadable(_BACKEND_LIBRARIES["egl"], need_all=True):
        chosen = "egl"
    elif _loadable(_BACKEND_LIBRARIES["osmesa"], need_all=False):
        chosen = "osmesa"
    else:
        raise RenderBackendError(
            "no offscreen OpenGL for MuJoCo: expected libEGL.so.1 + libOpenGL.so.0 (Debian "
            "libegl1 libegl-mesa0 libopengl0 libgl1-mesa-dri) or libOSMesa (libosmesa6); "
            "run scripts/install_system_packages.sh")
    os.environ["MUJOCO_GL"] = chosen
    if chosen == "egl":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    return chosen


def load_mujoco() -> ModuleType:
    """Import ``mujoco`` with the backend chosen by :func:`select_gl_backend`."""
    select_gl_backend()
    return importlib.import_module("mujoco")
