"""`colcon build` of the package (colcon-common-extensions from PyPI) installs what ros2 run and
ros2 launch look for: every console script under lib/<package>/, launch, config and RViz files under share/."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from launch_standins import CONFIG_DIR, LAUNCH_DIR, PACKAGE, REPO, console_scripts

RVIZ_DIR = REPO / "rviz"

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def colcon() -> str:
    found = shutil.which("colcon") or str(Path(sys.executable).with_name("colcon"))
    if not Path(found).exists():
        pytest.skip("colcon is not installed (pip install colcon-common-extensions, requirements/test.txt)")
    return found


def test_colcon_build_installs_executables_launch_and_config(tmp_path: Path) -> None:
    command = [colcon(), "--log-base", str(tmp_path / "log"), "build", "--base-paths", str(REPO),
               "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install")]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    prefix = tmp_path / "install" / PACKAGE

    lib = prefix / "lib" / PACKAGE
    for name, target in console_scripts().items():
        script = lib / name
        assert script.is_file(), f"{name} not installed in lib/{PACKAGE} (ros2 run cannot find it)"
        text = script.read_text()
        assert script.stat().st_mode & 0o111 and text.startswith("#!"), f"{name} is not executable"
        module = target.split(":")[0]
        assert module in text or f"'{name}'" in text, f"{name} does not start {target}"

    share = prefix / "share" / PACKAGE
    assert (share / "package.xml").is_file()
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    for folder, pattern in ((LAUNCH_DIR, "*.launch.py"), (CONFIG_DIR, "*.yaml"), (RVIZ_DIR, "*.rviz")):
        sources = sorted(folder.glob(pattern))
        assert sources
        for source in sources:
            installed = share / folder.name / source.name
            assert installed.is_file() and installed.read_bytes() == source.read_bytes(), installed
