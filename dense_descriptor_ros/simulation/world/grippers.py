"""Floating grippers for the simulated cell: a suction cup and a parallel-jaw gripper.

There is no arm: the tool is a free body welded (softly, like a compliant arm) to a mocap
target that moves along straight lines at a set speed. A mocap body itself has no velocity
in MuJoCo, so friction could not drag anything; the welded tool has real velocity, so
objects it touches are pushed and objects it holds hang from it by constraint or contact
forces. Friction uses elliptic cones with a high impedance ratio so held objects do not creep.

Tool frame = grasp frame: origin at the cup face / the middle between the fingertips,
z = approach direction (into the surface), y = the fingers' closing axis; every geom lies
at z <= 0.

The suction cup only grips when a real cup would seal: switched on, it stops at the first
contact and rays cast along the tool z through its rim must all hit the same object within
``SuctionCupSpec.seal_gap`` of the cup face, with the surface normal at the centre within
``max_tilt_deg`` of the approach. Off the object, over an edge or tilted, the seal fails.
Once sealed, a weld constraint at the seal point holds the object until its force exceeds the
vacuum's ``max_force``, or its moment about the cup (an object held off its centre of mass peels
the cup) exceeds ``max_force * radius``; then the seal breaks (during a move: SealError, the
object dropped).

The parallel gripper's fingers are position-controlled slide joints whose force is limited
to the commanded effort; a held object hangs on friction alone.

:class:`SimulatedGripper` implements the grasp executor's ``SimulatedCellBackend`` protocol
(``move_to_pose``, vacuum ``set``, gripper ``command``).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ...execution.backends import BackendTimeout, GripperError, GripperState, MotionExecutionError
from ...grasping.gripper import GRIPPER_KINDS, ParallelJaw, SuctionCup
from ...grasping.pose import Pose
from . import scene as scene_mod
from .cell import BinCell
from .render import mujoco

TOOL_BODY = "gripper"
TARGET_BODY = "gripper_target"
PARK_POSITION = (3.0, 3.0, 1.0)  # out of every camera's view
WORLD_FRAME = "world"


class SealError(GripperError):
    """The suction cup touched something but could not seal on it."""


@dataclass(frozen=True)
class SuctionCupSpec(SuctionCup):
    """The cell's suction cup (``grasping.gripper``) with its physics (metres, degrees, newtons)."""

    seal_gap: float = 0.008  # the bellows lip closes gaps up to this between rim and surface
    max_tilt_deg: float = 20.0
    max_force: float = 25.0  # vacuum holding force
    rim_points: int = 12


@dataclass(frozen=True)
class ParallelJawSpec(ParallelJaw):
    """The cell's parallel-jaw gripper (``grasping.gripper``) with its physics (newtons)."""

    friction: float = 1.2
    stiffness: float = 2000.0  # N/m of each finger's position servo, before the effort limit


@dataclass(frozen=True)
class MotionSpec:
    """How the floating tool moves: speed, collision guard and controller settling."""

    speed: float = 0.2  # m/s along straight lines
    turn_speed: float = 3.0  # rad/s
    guard_force: float = 15.0  # N: an unexpected contact harder than this stops the motion
    settle_seconds: float = 0.6  # longest a gripper command may take to settle
    arrive_seconds: float = 0.05  # after a move, for the compliant tool to reach the target


def _tool_open() -> str:
    """Opening tag of the free tool body and its mocap target (both parked out of view)."""
    return (f'<body name="{TARGET_BODY}" mocap="true" pos="{scene_mod._vec(PARK_POSITION)}"/>'
            f'<body name="{TOOL_BODY}" pos="{scene_mod._vec(PARK_POSITION)}" gravcomp="1">'
            f'<freejoint name="{TOOL_BODY}"/>'
            '<inertial pos="0 0 -0.06" mass="0.5" diaginertia="0.002 0.002 0.002"/>')


def suction_xml(spec: SuctionCupSpec = SuctionCupSpec()) -> str:
    """MJCF bodies of the floating suction cup."""
    return (_tool_open() +
            f'<geom name="suction_cup" type="cylinder" size="{spec.radius:.6g} 0.004" pos="0 0 -0.004" '
            'rgba="0.15 0.15 0.15 1" friction="1 0.01 0.001"/>'
            '<geom name="suction_shaft" type="cylinder" size="0.008 0.05" pos="0 0 -0.058" '
            'rgba="0.6 0.6 0.65 1"/></body>')


def parallel_xml(spec: ParallelJawSpec = ParallelJawSpec()) -> str:
    """MJCF bodies of the floating parallel gripper: a palm and two sliding fingers."""
    half_length, half_thick = spec.finger_length / 2, spec.finger_thickness / 2
    fingers = []
    for name, sign in (("finger_a", -1), ("finger_b", 1)):
        fingers.append(
            f'<body name="{name}" gravcomp="1"><joint name="{name}" type="slide" axis="0 {sign} 0" '
            f'range="0 {spec.max_opening / 2:.6g}" damping="100" armature="0.01"/>'
            f'<geom name="{name}" type="box" size="{spec.finger_width / 2:.6g} {half_thick:.6g} '
            f'{half_length:.6g}" pos="0 {sign * half_thick:.6g} {-half_length:.6g}" mass="0.05" '
            f'condim="4" friction="{spec.friction:.6g} 0.02 0.002" rgba="0.3 0.3 0.35 1"/></body>')
    return (_tool_open() +
            f'<geom name="palm" type="box" size="{spec.palm_length / 2:.6g} {spec.palm_width / 2:.6g} '
            f'{spec.palm_height / 2:.6g}" pos="0 0 {-spec.finger_length - 0.002 - spec.palm_height / 2:.6g}" '
            'rgba="0.5 0.5 0.55 1"/>'
            + "".join(fingers) + "</body>")


def gripper_mjcf_editor(kind: str, instance_ids: list[int], suction: SuctionCupSpec = SuctionCupSpec(),
                        parallel: ParallelJawSpec = ParallelJawSpec()) -> Callable[[str], str]:
    """A function adding the gripper ``kind`` to a scene's MJCF (for ``BinCell(edit_mjcf=...)``).

    Both add the weld from the mocap target to the tool; suction adds one inactive weld per
    object instance (activated when the cup seals), parallel the two finger servos.
    """
    if kind not in GRIPPER_KINDS:
        raise ValueError(f"gripper must be one of {GRIPPER_KINDS}, got {kind!r}")

    def edit(xml: str) -> str:
        if xml.count("</worldbody>") != 1:
            raise ValueError("expected MJCF with exactly one </worldbody>")
        drive = (f'<weld name="{TOOL_BODY}" body1="{TARGET_BODY}" body2="{TOOL_BODY}" '
                 'relpose="0 0 0 1 0 0 0" solref="0.005 1"/>')
        if kind == "suction":
            body = suction_xml(suction)
            extra = "<equality>" + drive + "".join(
                f'<weld name="suction_{i}" body1="{TOOL_BODY}" body2="{scene_mod.object_body(i)}" '
                'active="false" solref="0.01 1"/>' for i in instance_ids) + "</equality>"
        else:
            body = parallel_xml(parallel)
            extra = f"<equality>{drive}</equality><actuator>" + "".join(
                f'<position name="{name}" joint="{name}" kp="{parallel.stiffness:.6g}" '
                f'forcelimited="true" forcerange="-40 40" ctrlrange="0 {parallel.max_opening / 2:.6g}"/>'
                for name in ("finger_a", "finger_b")) + "</actuator>"
        xml = xml.replace("</worldbody>", body + "</worldbody>")
        return xml.replace("</worldbody>", "</worldbody>" + extra, 1)

    return edit


def open_cell(spec: scene_mod.SceneSpec, kind: str, width: int, height: int) -> BinCell:
    """A bin cell with the gripper ``kind`` parked out of view (elliptic friction cones)."""
    cell = BinCell(spec, width, height,
                   edit_mjcf=gripper_mjcf_editor(kind, [inst.instance_id for inst in spec.instances]))
    cell.model.opt.cone = int(mujoco.mjtCone.mjCONE_ELLIPTIC)
    cell.model.opt.impratio = 10.0
    return cell


class SimulatedGripper:
    """Drives the floating gripper of ``cell`` (built by :func:`open_cell`) with physics."""

    def __init__(self, cell: BinCell, kind: str, *, suction: SuctionCupSpec = SuctionCupSpec(),
                 parallel: ParallelJawSpec = ParallelJawSpec(), motion: MotionSpec = MotionSpec()) -> None:
        if kind not in GRIPPER_KINDS:
            raise ValueError(f"gripper must be one of {GRIPPER_KINDS}, got {kind!r}")
        self.cell, self.kind = cell, kind
        self.suction_spec, self.parallel_spec, self.motion_spec = suction, parallel, motion
        model = cell.model
        tool = model.body(TOOL_BODY).id
        self._tool_body = tool
        self._mocap = int(model.body_mocapid[model.body(TARGET_BODY).id])
        joint = model.joint(TOOL_BODY).id
        self._tool_qpos, self._tool_qvel = model.jnt_qposadr[joint], model.jnt_dofadr[joint]
        tool_bodies = {tool} | {b for b in range(model.nbody) if model.body_parentid[b] == tool}
        self._tool_geoms = set(np.flatnonzero(np.isin(model.geom_bodyid, list(tool_bodies))).tolist())
        self._object_of_body = {model.body(scene_mod.object_body(i)).id: i for i in cell.instance_ids}
        self.vacuum_on = False
        self.closed_on_something = False  # the fingers' last command stalled on an obstacle
        self.attached: int | None = None  # instance id held by the suction weld
        self.seal_point: np.ndarray | None = None  # world point where the cup sealed
        if kind == "suction":
            self._welds = {i: model.equality(f"suction_{i}").id for i in cell.instance_ids}
            self._cup_geoms = [model.geom("suction_cup").id, model.geom("suction_shaft").id]
            self._cup_collision = (model.geom_contype[self._cup_geoms].copy(),
                                   model.geom_conaffinity[self._cup_geoms].copy())
        else:
            self._finger_joints = [model.joint(n).id for n in ("finger_a", "finger_b")]
            self._finger_actuators = [model.actuator(n).id for n in ("finger_a", "finger_b")]
            self._finger_geoms = [model.geom(n).id for n in ("finger_a", "finger_b")]
        self.park()

    # -- state -------------------------------------------------------------------------------

    @property
    def tool_pose(self) -> Pose:
        """Current (measured) tool pose in the world frame."""
        d = self.cell.data
        return Pose.from_axes(d.xpos[self._tool_body].copy(), d.xmat[self._tool_body].reshape(3, 3),
                              WORLD_FRAME)

    @property
    def commanded_pose(self) -> Pose:
        """Where the tool is being driven (the mocap target), world frame."""
        d = self.cell.data
        w, x, y, z = d.mocap_quat[self._mocap]
        return Pose(d.mocap_pos[self._mocap].copy(), [x, y, z, w], WORLD_FRAME)

    @property
    def parked(self) -> bool:
        return bool(np.allclose(self.cell.data.mocap_pos[self._mocap], PARK_POSITION))

    def park(self) -> None:
        """Release anything held and move the tool out of view (no physics)."""
        self._release()
        self.vacuum_on = self.closed_on_something = False
        self._teleport(np.array(PARK_POSITION), np.array([0.0, 0.0, 0.0, 1.0]))

    def finger_opening(self) -> float:
        """Distance between the finger pads (m); parallel gripper only."""
        d = self.cell.data
        return float(sum(d.qpos[self.cell.model.jnt_qposadr[j]] for j in self._finger_joints))

    def contacts(self) -> list[tuple[int, int, float]]:
        """Contacts of the tool now: ``(tool geom, other geom, normal force N)``."""
        return [(tool, other, force) for tool, other, force, _ in self._contacts()]

    def _contacts(self) -> list[tuple[int, int, float, np.ndarray]]:
        """Like :meth:`contacts`, plus each contact's unit normal ``(3,)`` (world)."""
        m, d = self.cell.model, self.cell.data
        found = []
        wrench = np.zeros(6)
        for k in range(d.ncon):
            contact = d.contact[k]
            g1, g2 = int(contact.geom1), int(contact.geom2)
            if (g1 in self._tool_geoms) == (g2 in self._tool_geoms):
                continue
            mujoco.mj_contactForce(m, d, k, wrench)
            tool, other = (g1, g2) if g1 in self._tool_geoms else (g2, g1)
            found.append((tool, other, float(abs(wrench[0])), np.array(contact.frame[:3])))
        return found

    def object_at_geom(self, geom: int) -> int | None:
        """Instance id of the object that owns ``geom`` (None: bin, floor, gripper)."""
        return self._object_of_body.get(int(self.cell.model.geom_bodyid[geom]))

    @property
    def gripping(self) -> bool:
        """Sealed on an object, or fingers closed on something: motions are no longer guarded."""
        return self.attached is not None if self.kind == "suction" else self.closed_on_something

    def held_object(self) -> int | None:
        """The object the gripper holds now: welded to the cup, or pinched between both finger
        pads (contacts whose normal lies along the closing axis)."""
        if self.kind == "suction":
            return self.attached
        closing = self.tool_pose.axis(1)
        touching = [set(), set()]
        for tool, other, force, normal in self._contacts():
            if tool in self._finger_geoms and force > 0.1 and abs(normal @ closing) > 0.7:
                instance = self.object_at_geom(other)
                if instance is not None:
                    touching[self._finger_geoms.index(tool)].add(instance)
        both = touching[0] & touching[1]
        return min(both) if both else None

    # -- SimulatedCellBackend protocol -----------------------------------------------------

    def move_to_pose(self, pose: Pose, timeout: float) -> None:
        """Move the tool to ``pose`` (world frame) in a straight line with physics running.

        From the park position the tool jumps to the pose (the arm's travel is not simulated)
        and must arrive collision-free. Otherwise, while the tool holds nothing it moves guarded:
        with the vacuum on it stops at the first touch and tries to seal (SealError when it
        cannot); any contact harder than ``guard_force`` stops it with MotionExecutionError.
        """
        if pose.frame != WORLD_FRAME:
            raise ValueError(f"the simulated gripper takes poses in frame {WORLD_FRAME!r}, got {pose.frame!r}")
        if self.parked:
            self._teleport(pose.position, pose.orientation)
            if self.contacts():
                raise MotionExecutionError(f"the tool collides on arrival at "
                                           f"{np.round(pose.position, 3).tolist()}")
            return
        start = self.commanded_pose
        distance = float(np.linalg.norm(pose.position - start.position))
        angle = float((pose.rotation * start.rotation.inv()).magnitude())
        duration = max(distance / self.motion_spec.speed, angle / self.motion_spec.turn_speed)
        dt = self.cell.model.opt.timestep
        steps = max(1, int(np.ceil(duration / dt)))
        slerp = Slerp([0.0, 1.0], Rotation.concatenate([start.rotation, pose.rotation]))
        began = time.monotonic()
        for k in range(1, steps + 1):
            t = k / steps
            self._set_mocap(start.position + t * (pose.position - start.position), slerp(t).as_quat())
            if self._step_stops():
                return
            if time.monotonic() - began > timeout:
                raise BackendTimeout(f"move did not finish within {timeout:.1f} s")
        for _ in range(int(self.motion_spec.arrive_seconds / dt)):  # let the compliant tool catch up
            if self._step_stops():
                return

    def _step_stops(self) -> bool:
        """One physics step of a move; True when a guarded move must stop here. A seal that
        breaks under the load raises SealError, as a vacuum sensor would stop a real arm."""
        mujoco.mj_step(self.cell.model, self.cell.data)
        broke = self._check_weld()
        if broke is not None:
            raise SealError(f"the seal broke while moving: {broke}")
        return not self.gripping and self._guard_stops()

    def set(self, on: bool, timeout: float) -> None:
        """Switch the vacuum; on while already touching an object seals at once (or fails)."""
        if self.kind != "suction":
            raise GripperError("this gripper has no vacuum")
        self.vacuum_on = bool(on)
        if not on:
            self._release()
        elif self.attached is None and any(self.object_at_geom(o) is not None for _, o, _ in self.contacts()):
            self._seal()

    def command(self, width: float, effort: float, timeout: float) -> GripperState:
        """Drive the fingers to opening ``width`` (m) with at most ``effort`` N each; wait until
        they stop. ``stalled`` when something keeps them more than 1 mm from the goal."""
        if self.kind != "parallel":
            raise GripperError("this gripper has no fingers")
        if not (np.isfinite(width) and np.isfinite(effort) and effort > 0):
            raise ValueError(f"need a finite width and a positive effort, got {width}, {effort}")
        m, d = self.cell.model, self.cell.data
        goal = float(np.clip(width, 0.0, self.parallel_spec.max_opening))
        for actuator in self._finger_actuators:
            m.actuator_forcerange[actuator] = [-effort, effort]
            d.ctrl[actuator] = goal / 2
        dofs = [m.jnt_dofadr[j] for j in self._finger_joints]
        began = time.monotonic()
        for k in range(int(self.motion_spec.settle_seconds / m.opt.timestep)):
            mujoco.mj_step(m, d)
            if k > 50 and np.abs(d.qvel[dofs]).max() < 1e-3:
                break
            if time.monotonic() - began > timeout:
                raise BackendTimeout(f"gripper did not settle within {timeout:.1f} s")
        position = self.finger_opening()
        stalled = position > goal + 1e-3
        self.closed_on_something = stalled
        return GripperState(position, stalled=stalled, reached_goal=abs(position - goal) <= 1e-3)

    # -- simulation helpers ----------------------------------------------------------------

    def hold(self, seconds: float) -> None:
        """Keep the tool still for ``seconds`` of simulated time."""
        for _ in range(int(seconds / self.cell.model.opt.timestep)):
            mujoco.mj_step(self.cell.model, self.cell.data)
            self._check_weld()

    def _set_mocap(self, position: np.ndarray, quat_xyzw: np.ndarray) -> None:
        x, y, z, w = quat_xyzw
        self.cell.data.mocap_pos[self._mocap] = position
        self.cell.data.mocap_quat[self._mocap] = [w, x, y, z]

    def _teleport(self, position: np.ndarray, quat_xyzw: np.ndarray) -> None:
        position, quat = np.asarray(position, float), np.asarray(quat_xyzw, float)
        self._set_mocap(position, quat)
        x, y, z, w = quat / np.linalg.norm(quat)
        d = self.cell.data
        d.qpos[self._tool_qpos:self._tool_qpos + 7] = [*position, w, x, y, z]
        d.qvel[self._tool_qvel:self._tool_qvel + 6] = 0.0
        mujoco.mj_forward(self.cell.model, self.cell.data)

    def _guard_stops(self) -> bool:
        """True when the motion must stop here: the armed cup touched something (and sealed)."""
        touches = self.contacts()
        if not touches:
            return False
        if self.kind == "suction" and self.vacuum_on:
            self._seal()
            return True
        total = sum(force for _, _, force in touches)
        if total > self.motion_spec.guard_force:
            names = {self.cell.model.geom(o).name or f"geom {o}" for _, o, _ in touches}
            raise MotionExecutionError(f"collision ({total:.1f} N) with {sorted(names)} stopped the motion")
        return False

    def _seal(self) -> None:
        """Attach the touched object if the cup seals on it, else raise SealError."""
        instance, point, reason = self.seal_check()
        if instance is None:
            raise SealError(f"the suction cup cannot seal: {reason}")
        m, d = self.cell.model, self.cell.data
        eq = self._welds[instance]
        body = m.body(scene_mod.object_body(instance)).id
        tool_rot, body_rot = d.xmat[self._tool_body].reshape(3, 3), d.xmat[body].reshape(3, 3)
        rel_rot = Rotation.from_matrix(tool_rot.T @ body_rot)
        x, y, z, w = rel_rot.as_quat()
        # anchored at the seal point on both bodies, so the weld's torque is the moment about the
        # cup (what peels a real cup off), not about the object's origin
        m.eq_data[eq, 0:3] = body_rot.T @ (point - d.xpos[body])
        m.eq_data[eq, 3:6] = tool_rot.T @ (point - d.xpos[self._tool_body])
        m.eq_data[eq, 6:10] = [w, x, y, z]
        d.eq_active[eq] = True
        # the held object now hangs on the weld alone: the cup collides with nothing (an object
        # geom's contype meets the cup's conaffinity too, so both are cleared)
        m.geom_contype[self._cup_geoms] = 0
        m.geom_conaffinity[self._cup_geoms] = 0
        self.attached, self.seal_point = instance, point

    def seal_check(self) -> tuple[int | None, np.ndarray | None, str]:
        """Would the cup seal where it is now? ``(instance id or None, cup centre point, reason)``.

        Rays along the tool z from 1 cm behind the cup face, through its centre and rim, must hit
        one object within ``seal_gap`` of the face, with the centre normal within ``max_tilt_deg``.
        """
        spec, m, d = self.suction_spec, self.cell.model, self.cell.data
        pose = self.tool_pose
        axes = pose.rotation.as_matrix()
        back = 0.01
        angles = np.linspace(0.0, 2 * np.pi, spec.rim_points, endpoint=False)
        offsets = [np.zeros(3)] + [spec.radius * (np.cos(a) * axes[:, 0] + np.sin(a) * axes[:, 1])
                                   for a in angles]
        geom = np.zeros(1, np.int32)
        normal = np.zeros(3)
        hits, gaps = [], []
        centre_normal = None
        for k, offset in enumerate(offsets):
            start = pose.position + offset - back * axes[:, 2]
            distance = mujoco.mj_ray(m, d, start, axes[:, 2], None, 1, self._tool_body, geom, normal)
            hits.append(self.object_at_geom(int(geom[0])) if distance >= 0 else None)
            gaps.append(distance - back if distance >= 0 else np.inf)
            if k == 0:
                centre_normal = normal.copy()
        instance = hits[0]
        if instance is None:
            return None, None, "the cup centre is not on an object"
        if any(h != instance for h in hits):
            return None, None, f"{sum(h != instance for h in hits)} of {len(hits) - 1} rim points are off the object"
        if max(gaps) > spec.seal_gap:
            return None, None, (f"the rim stands up to {max(gaps) * 1000:.1f} mm off the surface "
                                f"(the lip closes {spec.seal_gap * 1000:.1f} mm)")
        tilt = float(np.degrees(np.arccos(np.clip(-centre_normal @ axes[:, 2], -1.0, 1.0))))
        if tilt > spec.max_tilt_deg:
            return None, None, f"the surface is tilted {tilt:.1f} deg from the cup (limit {spec.max_tilt_deg:.0f})"
        return instance, pose.position + gaps[0] * axes[:, 2], "sealed"

    def _check_weld(self) -> str | None:
        """Break the seal when the weld needs more than the vacuum can give; why, when it broke."""
        if self.attached is None:
            return None
        d = self.cell.data
        eq = self._welds[self.attached]
        rows = np.flatnonzero((d.efc_type[:d.nefc] == int(mujoco.mjtConstraint.mjCNSTR_EQUALITY))
                              & (d.efc_id[:d.nefc] == eq))
        if len(rows) < 6:
            return None
        force = float(np.linalg.norm(d.efc_force[rows[:3]]))
        # the weld's rotation rows act on a quaternion error, whose rate is half the angular
        # velocity: their force is twice the torque
        torque = 0.5 * float(np.linalg.norm(d.efc_force[rows[3:6]]))
        spec = self.suction_spec
        if force > spec.max_force or torque > spec.max_force * spec.radius:
            self._release()
            return (f"the load ({force:.1f} N, {torque:.2f} N m) broke the seal (the cup holds "
                    f"{spec.max_force:.0f} N, {spec.max_force * spec.radius:.2f} N m)")
        return None

    def _release(self) -> None:
        if self.kind != "suction" or self.attached is None:
            return
        self.cell.data.eq_active[self._welds[self.attached]] = False
        contype, conaffinity = self._cup_collision
        self.cell.model.geom_contype[self._cup_geoms] = contype
        self.cell.model.geom_conaffinity[self._cup_geoms] = conaffinity
        self.attached = None
