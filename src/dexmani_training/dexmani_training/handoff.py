"""Scripted handoffs: init states for the handover's hand-B stages, made from one-hand grasps.

Policies learn hand A's part of the handover (grasp, lift, bring the object to the midline) but,
in every run so far, never hand B's grasp: B brushes the object or props it from below, and the
object falls as soon as A lets go. Library states from a policy's own rollouts cannot show B a
grasp it never made. This module makes such states with a script instead, from the grasps a
one-hand specialist already makes (e.g. the grasp specialist's states on the handover's object,
``dexmani init record --policy grasp_and_reach.pt``):

1. **Grasp templates.** From a library, the states in which exactly the lead hand holds the
   object up (touching it, the object clear of the table and ``min_height_m`` above its rest):
   that hand's pose relative to the object and its finger joints, as a right-hand grasp (a
   left-hand state is mirrored first).
2. **The two-hand grasp.** The template's grasp is slid along the object's long axis until its
   fingertip centre sits ``end_offset_m`` from the object's centre, on hand A's end; hand B's
   grasp is its mirror image in the object's plane normal to the long axis, on the other end
   (reflecting the right hand's pose in a plane gives a pose of the left hand, as the robot is
   left–right symmetric). Each template's roll about the long axis is chosen once, where both
   arms reach the grasp exactly with the object centred on the midline (damped least-squares IK
   on the hand base's position and orientation over the arm's 7 joints).
3. **The handoff,** simulated with the physics running throughout, the object placed at a
   random pose near the midline on A's side (``centre_*``, ``height_above_rest_m``, ``yaw_rad``):
   hand A holds (its fingers closing); hand B moves from its default pose to ``pregrasp_up_m``
   above its grasp, comes down onto it following the object, and closes; both hold; A opens and lifts away; B carries the object to
   the task's final goal (a 1 cm/step path, with integral correction for the sag under load) and
   holds it there.

Every control step is recorded with hand A as lead hand and the stage the handover would have
reached (2, intermediate, until B first touches the object; 3, contact_b, after). Only handoffs
that end with B alone holding the object up within ``success_distance_m`` of the final goal are
kept, thinned to one state per ``every_s``. States are made right-to-left (A the right hand);
:func:`library_from_handoffs` adds their mirror images for the other direction.

The script knows the object only as a rigid shape with a long axis (a box or a cylinder whose
longest dimension is at least 1.5 times the others); it needs no policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from gr1_description import joints as jt
from gr1_sim.batch import BatchedSim
from gr1_sim.objects import get_object
from gr1_sim.scene import build_scene, scene_config

from .init_library import InitLibrary, InitLibraryError
from .symmetry import mirror_joints, mirror_points, mirror_quat
from .tasks.base import LEFT, RIGHT, hand_open_closed, ready_pose, side_joint_indices

HAND_BODY = {LEFT: "L_hand_base_link", RIGHT: "R_hand_base_link"}
# A hand's local frame is the mirror image of the other's: R_left = S R_right S at mirrored poses.
_FLIP_Y = np.diag([1.0, -1.0, 1.0])


@dataclass(frozen=True)
class HandoffConfig:
    end_offset_m: float = 0.065  # fingertip centre from the object's centre, along its long axis
    # Where the object is handed over: on hand A's side of the midline, around the intermediate
    # goal and out to where policies were seen holding it (closer to the body, higher).
    centre_x_m: tuple[float, float] = (0.24, 0.35)
    centre_abs_y_m: tuple[float, float] = (0.0, 0.10)
    height_above_rest_m: tuple[float, float] = (0.11, 0.21)
    yaw_rad: tuple[float, float] = (-0.15, 0.15)
    pregrasp_up_m: float = 0.08
    settle_steps: int = 10
    approach_steps: int = 15  # B from its default pose to above its grasp
    reach_steps: int = 12
    close_steps: int = 8
    both_steps: int = 4
    open_steps: int = 8
    away_steps: int = 8
    carry_steps: int = 55
    hold_steps: int = 10
    carry_step_m: float = 0.01
    max_ik_position_error_m: float = 0.01
    max_ik_rotation_error_rad: float = 0.1
    success_distance_m: float = 0.05
    # Before a handoff: hold hand A's grasp this many control steps with nothing else moving,
    # on the bare simulation, and refuse the handoff ("slipping") where the object sinks more
    # than max_sink_m or A loses it. 0: no check. Handoffs stepped through a task env's
    # relative actions (demos.py) take several times as long as the script's own, and a
    # marginal grasp lets the object slide out of A's hand before B gets to it.
    hold_check_steps: int = 0
    max_sink_m: float = 0.02


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    r = np.zeros(9)
    mujoco.mju_quat2Mat(r, np.asarray(q, dtype=float))
    return r.reshape(3, 3)


def mat_to_quat(m: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.asarray(m, dtype=float).reshape(9))
    return q


def rotation(axis: int, angle: float) -> np.ndarray:
    """Rotation matrix about world axis 0 (x), 1 (y) or 2 (z)."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r if axis != 1 else r.T  # about y the sign convention flips (z × x = y)


def long_axis(object_name: str) -> tuple[np.ndarray, float]:
    """The object's long axis (unit vector, own frame) and half length; refuses shapes without one."""
    spec = get_object(object_name)
    found = spec.long_axis()
    if found is None:
        raise ValueError(f"scripted handoffs need an elongated object (a box or cylinder whose longest dimension is at "
                         f"least 1.5 times the others, for one end per hand); {object_name} is a {spec.shape} of size "
                         f"{spec.size_m}")
    return found


def reflect_grasp(p_rel: np.ndarray, r_rel: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A hand's pose relative to the object (position, rotation), reflected in the object's plane
    normal to ``axis``: the other hand's pose, holding the other end the same way."""
    s = np.eye(3) - 2.0 * np.outer(axis, axis)
    return s @ p_rel, s @ r_rel @ _FLIP_Y


class ArmIK:
    """Damped least squares on one hand base's position and orientation over its arm's 7 joints,
    on a scratch copy of the model's data (kinematics only; the simulation is not touched)."""

    def __init__(self, model: mujoco.MjModel, qpos_adr: np.ndarray, dof_adr: np.ndarray):
        self.model, self.data = model, mujoco.MjData(model)
        self.qpos_adr = np.asarray(qpos_adr)
        self.arm_idx, self.hand_idx = {}, {}
        for s in (LEFT, RIGHT):
            self.arm_idx[s], self.hand_idx[s] = side_joint_indices(s)
        self.dof = {s: np.asarray(dof_adr)[self.arm_idx[s]] for s in (LEFT, RIGHT)}
        self.body = {s: model.body(HAND_BODY[s]).id for s in (LEFT, RIGHT)}
        self.lower, self.upper = jt.lower_limits(), jt.upper_limits()
        self._jp, self._jr = np.zeros((3, model.nv)), np.zeros((3, model.nv))

    def hand_pose(self, q: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
        self.data.qpos[self.qpos_adr] = q
        mujoco.mj_kinematics(self.model, self.data)
        b = self.body[side]
        return self.data.xpos[b].copy(), self.data.xmat[b].reshape(3, 3).copy()

    def solve(self, q: np.ndarray, side: int, p_target: np.ndarray, r_target: np.ndarray, iters: int = 300,
              rot_weight: float = 0.2) -> tuple[np.ndarray, float, float]:
        """Arm joints moving ``side``'s hand base to the target; returns (q, position error,
        rotation error) with only that arm's entries of ``q`` changed, clamped to the limits."""
        q = np.array(q, dtype=float, copy=True)
        idx, dof, b = self.arm_idx[side], self.dof[side], self.body[side]
        ep, er = np.inf, np.inf
        for _ in range(iters):
            self.data.qpos[self.qpos_adr] = q
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_comPos(self.model, self.data)
            e_pos = p_target - self.data.xpos[b]
            e_rot = np.zeros(3)
            mujoco.mju_quat2Vel(e_rot, mat_to_quat(r_target @ self.data.xmat[b].reshape(3, 3).T), 1.0)
            ep, er = float(np.linalg.norm(e_pos)), float(np.linalg.norm(e_rot))
            if ep < 5e-4 and er < 5e-3:
                break
            mujoco.mj_jacBody(self.model, self.data, self._jp, self._jr, b)
            jac = np.vstack([self._jp[:, dof], rot_weight * self._jr[:, dof]])
            err = np.concatenate([e_pos, rot_weight * e_rot])
            dq = jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(6), err)
            q[idx] = np.clip(q[idx] + np.clip(dq, -0.1, 0.1), self.lower[idx], self.upper[idx])
        return q, ep, er


@dataclass
class GraspTemplate:
    p_rel: np.ndarray  # right hand base in the object frame, slid to hand A's end
    r_rel: np.ndarray
    hand_q: np.ndarray  # the right hand's 6 finger joints
    arm_q: np.ndarray  # the right arm's 7 joints (an IK starting point)
    roll_rad: float = 0.0  # the object's roll about its long axis that both arms reach best


class HandoffScript:
    """Scripted right-to-left handoffs of one object on the handover table (see the module
    docstring)."""

    def __init__(self, object_name: str, task_cfg, cfg: HandoffConfig | None = None):
        self.cfg = cfg or HandoffConfig()
        self.task_cfg = task_cfg
        self.object = object_name
        self.axis, half_length = long_axis(object_name)
        if not 0.0 < self.cfg.end_offset_m < half_length:
            raise ValueError(f"end_offset_m {self.cfg.end_offset_m} m must lie within the object's half length "
                             f"({half_length:.3f} m for {object_name}): each hand holds its own end")
        sc = scene_config(task_cfg.scene, object=object_name, control_decimation=task_cfg.control_decimation)
        self.scene = build_scene(sc)
        self.sim = BatchedSim(self.scene, 1, num_threads=1)
        self.rest_z = sc.table_height_m + get_object(object_name).half_height_m()
        self.ik = ArmIK(self.sim.models[0], self.scene.qpos_adr, self.scene.dof_adr)
        self.open_q, self.closed_q = hand_open_closed()
        # Object orientation with the long axis along world y (the line between the hands).
        self.align = _rotation_between(self.axis, np.array([0.0, 1.0, 0.0]))
        # What steps an episode: the bare simulation here; demos.py swaps in a task env's.
        self.bare_sim = self.sim
        self.rollout = lambda q, pose, b, b_touched=False: _Rollout(self.sim, q, pose, b, b_touched)

    # --- templates --------------------------------------------------------------------------
    def templates(self, lib: InitLibrary, min_height_m: float = 0.05) -> list[GraspTemplate]:
        out = []
        for k in range(len(lib)):
            lead = int(lib.lead_hand[k])
            if lead < 0 or lib.object_pose[k, 2] - self.rest_z < min_height_m:
                continue
            q, pose = as_right_handed(lib, k)  # as a right-hand grasp
            self.sim.reset(joint_pos=q[None], object_pose=pose[None])
            touch = self.sim.contacts()[0]
            if not touch[RIGHT] or touch[LEFT] or touch[2]:
                continue
            ro = quat_to_mat(self.sim.object_pose()[0, 3:])
            po = self.sim.object_pose()[0, :3]
            d = self.sim.datas[0].body(HAND_BODY[RIGHT])
            p_rel = ro.T @ (d.xpos - po)
            tips = ro.T @ (self.sim.fingertip_pos()[0, RIGHT].mean(axis=0) - po)
            # Slide along the long axis: fingertip centre at -end_offset (A's end; A is the
            # right hand, on the -y side, and the long axis is placed along +y).
            p_rel = p_rel + self.axis * (-self.cfg.end_offset_m - tips @ self.axis)
            out.append(GraspTemplate(p_rel, ro.T @ d.xmat.reshape(3, 3), q[self.ik.hand_idx[RIGHT]].copy(),
                                     q[self.ik.arm_idx[RIGHT]].copy()))
        return out

    def object_rotation(self, roll: float, yaw: float = 0.0) -> np.ndarray:
        return rotation(2, yaw) @ rotation(1, roll) @ self.align

    def both_hands(self, t: GraspTemplate, centre: np.ndarray, r_obj: np.ndarray, guess: np.ndarray):
        """Joint positions with both hands on their ends of the object at (centre, r_obj), and
        the worst IK errors (position, rotation)."""
        q = guess.copy()
        errs = []
        for side, (p, r) in ((RIGHT, (t.p_rel, t.r_rel)), (LEFT, reflect_grasp(t.p_rel, t.r_rel, self.axis))):
            q, ep, er = self.ik.solve(q, side, centre + r_obj @ p, r_obj @ r)
            errs.append((ep, er))
        return q, max(e[0] for e in errs), max(e[1] for e in errs)

    def symmetric_guess(self, t: GraspTemplate, centre: np.ndarray, r_obj: np.ndarray):
        q = ready_pose()
        q[self.ik.arm_idx[RIGHT]] = t.arm_q
        q, ep, er = self.ik.solve(q, RIGHT, centre + r_obj @ t.p_rel, r_obj @ t.r_rel)
        q[self.ik.arm_idx[LEFT]] = mirror_joints(q)[self.ik.arm_idx[LEFT]]
        return q, ep, er

    def choose_roll(self, t: GraspTemplate) -> None:
        """The object's roll about its long axis at which the grasp is reached best, with the
        object centred on the midline (then both arms are mirror images)."""
        c = self.cfg
        centre = np.array([np.mean(c.centre_x_m), 0.0, self.rest_z + np.mean(c.height_above_rest_m)])
        best = None
        for roll in np.deg2rad(np.arange(-90, 91, 15)):
            _, ep, er = self.symmetric_guess(t, centre, self.object_rotation(roll))
            score = ep + 0.05 * er
            if best is None or score < best[0]:
                best = (score, roll)
        t.roll_rad = float(best[1])

    # --- one handoff ------------------------------------------------------------------------
    def run(self, t: GraspTemplate, rng: np.random.Generator):
        """One scripted handoff: (joint positions, object poses, stages) per control step and
        its outcome, or why it did not start ("no_ik": IK cannot place both hands within the
        tolerances; "dropped_by_a": hand A lost the object while settling)."""
        c = self.cfg
        centre = np.array([rng.uniform(*c.centre_x_m), -rng.uniform(*c.centre_abs_y_m),
                           self.rest_z + rng.uniform(*c.height_above_rest_m)])
        r_obj = self.object_rotation(t.roll_rad, rng.uniform(*c.yaw_rad))
        guess, _, _ = self.symmetric_guess(t, np.array([centre[0], 0.0, centre[2]]), r_obj)
        q_grasp, ep, er = self.both_hands(t, centre, r_obj, guess)
        if ep > c.max_ik_position_error_m or er > c.max_ik_rotation_error_rad:
            return "no_ik"
        a, b = RIGHT, LEFT
        arm_b, fin_a, fin_b = self.ik.arm_idx[b], self.ik.hand_idx[a], self.ik.hand_idx[b]
        pb, rb = reflect_grasp(t.p_rel, t.r_rel, self.axis)
        up = np.array([0.0, 0.0, c.pregrasp_up_m])
        q_pre, _, _ = self.ik.solve(q_grasp, b, centre + r_obj @ pb + up, r_obj @ rb)
        start = q_grasp.copy()
        start[arm_b] = ready_pose()[arm_b]
        start[fin_a] = t.hand_q
        start[fin_b] = self.open_q[fin_b]
        pose = np.concatenate([centre, mat_to_quat(r_obj)])
        if c.hold_check_steps > 0 and self._slips(start, pose, b):
            return "slipping"
        ep = self.rollout(start, pose, b)
        ep.target[fin_a] = self.closed_q[fin_a]
        for _ in range(c.settle_steps):
            ep.step()
        touch = self.sim.contacts()[0]
        if not touch[a] or touch[2]:
            return "dropped_by_a"
        for i in range(1, c.approach_steps + 1):  # B from its default pose to above its end
            ep.target[arm_b] = start[arm_b] + i / c.approach_steps * (q_pre[arm_b] - start[arm_b])
            ep.step()
        for i in range(1, c.reach_steps + 1):  # B comes down onto its end, following the object
            po, ro = ep.object_frame()
            qb, _, _ = self.ik.solve(ep.target, b, po + ro @ pb + up * (1 - i / c.reach_steps), ro @ rb, iters=60)
            ep.target[arm_b] = qb[arm_b]
            ep.step()
        self._close_b(ep)
        return self._release_and_carry(ep, centre[0], t.p_rel, t.r_rel, pb, rb)

    def _slips(self, start: np.ndarray, pose: np.ndarray, b: int) -> bool:
        """Whether hand A, closing on its grasp from ``start`` and holding still for
        ``hold_check_steps`` on the bare simulation, lets the object sink more than
        ``max_sink_m`` or lose it."""
        c, a = self.cfg, 1 - b
        check = _Rollout(self.bare_sim, start, pose, b)
        check.target[self.ik.hand_idx[a]] = self.closed_q[self.ik.hand_idx[a]]
        top = -np.inf
        for _ in range(c.hold_check_steps):
            check.step()
            top = max(top, float(self.bare_sim.object_pose()[0, 2]))
        touch = self.bare_sim.contacts()[0]
        return bool(not touch[a] or touch[2] or top - float(self.bare_sim.object_pose()[0, 2]) > c.max_sink_m)

    def release(self, q: np.ndarray, pose: np.ndarray):
        """The second half of a handoff, started from a state in which both hands hold the
        object up (hand A the right hand), e.g. a policy's own: B closes its grip, both hold, A
        opens and withdraws, B carries the object to the final goal. Returns what :meth:`run`
        returns, or "not_both_holding" when the state is not one of both hands holding."""
        a, b = RIGHT, LEFT
        self.sim.reset(joint_pos=np.asarray(q, dtype=float)[None], object_pose=np.asarray(pose, dtype=float)[None])
        touch = self.sim.contacts()[0]
        if not (touch[a] and touch[b]) or touch[2]:
            return "not_both_holding"
        ep = self.rollout(q, pose, b, b_touched=True)
        fin_a = self.ik.hand_idx[a]
        ep.target[fin_a] = self.closed_q[fin_a]  # A keeps its grip while B closes
        self._close_b(ep, from_q=np.asarray(q, dtype=float))
        po, ro = ep.object_frame()
        (pa, ra), (pb, rb) = [self._hand_in_object(side, po, ro) for side in (a, b)]
        return self._release_and_carry(ep, float(pose[0]), pa, ra, pb, rb)

    def _hand_in_object(self, side, po, ro):
        """``side``'s hand base pose (position, rotation) in the frame of the object at (po, ro)."""
        p, r = self.ik.hand_pose(self.sim.joint_pos()[0], side)
        return ro.T @ (p - po), ro.T @ r

    def _close_b(self, ep: "_Rollout", from_q: np.ndarray | None = None) -> None:
        """B's fingers from where they are (open, or ``from_q``'s) to the closed limit."""
        c, fin_b = self.cfg, self.ik.hand_idx[LEFT]
        first = self.open_q[fin_b] if from_q is None else from_q[fin_b]
        for i in range(1, c.close_steps + 1):
            ep.target[fin_b] = first + i / c.close_steps * (self.closed_q[fin_b] - first)
            ep.step()

    def _release_and_carry(self, ep: "_Rollout", goal_x: float, pa, ra, pb, rb):
        """Both hold; A (the right hand, its grasp ``pa``, ``ra`` in the object frame) opens and
        lifts away; B (its grasp ``pb``, ``rb``) carries the object to the final goal at
        ``goal_x`` and holds it there. Returns the recorded steps and the outcome."""
        c, tc = self.cfg, self.task_cfg
        a, b = RIGHT, LEFT
        arm_a, fin_a, arm_b = self.ik.arm_idx[a], self.ik.hand_idx[a], self.ik.arm_idx[b]
        up = np.array([0.0, 0.0, c.pregrasp_up_m])
        for _ in range(c.both_steps):
            ep.step()
        po, ro = ep.object_frame()
        q_away, _, _ = self.ik.solve(ep.target, a, po + ro @ pa + up, ro @ ra)
        q_held = ep.target.copy()
        closed = ep.target[fin_a].copy()
        for i in range(1, c.open_steps + 1):
            ep.target[fin_a] = closed + i / c.open_steps * (self.open_q[fin_a] - closed)
            ep.step()
        for i in range(1, c.away_steps + 1):
            ep.target[arm_a] = q_held[arm_a] + i / c.away_steps * (q_away[arm_a] - q_held[arm_a])
            ep.step()
        # B carries the object to the final goal, holding its orientation; the integral term
        # takes out the sag of the arm under the object's weight.
        goal = np.array([goal_x, tc.final_abs_y_m, self.rest_z + tc.final_height_m])
        path, r_hold = ep.object_frame()
        integral = np.zeros(3)
        qb = ep.target.copy()
        for _ in range(c.carry_steps):
            path = path + np.clip(goal - path, -c.carry_step_m, c.carry_step_m)
            qb, _, _ = self.ik.solve(qb, b, path + integral + r_hold @ pb, r_hold @ rb, iters=50)
            ep.target[arm_b] = qb[arm_b]
            ep.step()
            integral = np.clip(integral + 0.3 * (path - self.sim.object_pose()[0, :3]), -0.08, 0.08)
        for _ in range(c.hold_steps):
            ep.step()
        touch = self.sim.contacts()[0]
        dist = float(np.linalg.norm(self.sim.object_pose()[0, :3] - goal))
        ok = bool(touch[b] and not touch[a] and not touch[2] and dist <= c.success_distance_m)
        return np.array(ep.qs), np.array(ep.poses), np.array(ep.stages), {"success": ok, "final_distance_m": dist}


class _Rollout:
    """A scripted episode on a one-environment sim: steps towards ``target`` and records every
    control step (joint positions, object pose, the handover stage: 2 until hand ``b`` first
    touches the object, 3 from then on)."""

    def __init__(self, sim: BatchedSim, q: np.ndarray, pose: np.ndarray, b: int, b_touched: bool = False):
        self.sim, self.b = sim, b
        sim.reset(joint_pos=np.asarray(q, dtype=float)[None], object_pose=np.asarray(pose, dtype=float)[None])
        self.target = np.array(q, dtype=float, copy=True)
        self.b_touched = b_touched
        self.qs, self.poses, self.stages = [], [], []

    def step(self) -> None:
        self.sim.step(self.target[None])
        self.b_touched = self.b_touched or bool(self.sim.contacts()[0, self.b])
        self.qs.append(self.sim.joint_pos()[0].copy())
        self.poses.append(self.sim.object_pose()[0].copy())
        self.stages.append(3 if self.b_touched else 2)

    def object_frame(self) -> tuple[np.ndarray, np.ndarray]:
        pose = self.sim.object_pose()[0]
        return pose[:3].copy(), quat_to_mat(pose[3:])


def _rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The rotation taking unit vector u to unit vector v (about their common normal)."""
    w = np.cross(u, v)
    c = float(np.dot(u, v))
    if np.linalg.norm(w) < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.eye(3)[int(np.argmin(np.abs(u)))]
        w = np.cross(u, perp)
        w /= np.linalg.norm(w)
        return 2.0 * np.outer(w, w) - np.eye(3)  # a half turn about w
    k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


def _load_source(library: str | Path, task: str, object_name: str | None, every_s: float, episodes: int,
                 cfg: HandoffConfig | None):
    """Checks shared by both library makers; returns (script, source library, object, stride)."""
    from .tasks import task_config

    if task != "handover":
        raise ValueError(f"scripted handoffs make states of the handover task, not {task!r}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if every_s <= 0:
        raise ValueError(f"every_s must be > 0, got {every_s}")
    if not Path(library).is_file():
        raise FileNotFoundError(f"library {library} does not exist")
    tc = task_config(task)
    src = InitLibrary.load(library)
    obj = object_name or src.meta.get("object") or tc.objects
    script = HandoffScript(obj, tc, cfg)
    if src.meta.get("object") not in (None, obj):
        raise InitLibraryError(f"{library} holds {src.meta.get('object')} states, not {obj}")
    return script, src, obj, max(1, int(round(every_s / script.sim.control_dt_s)))


def as_right_handed(src: InitLibrary, k: int) -> tuple[np.ndarray, np.ndarray]:
    """State ``k`` of ``src`` as one with the right hand as lead hand (mirrored if it was the left)."""
    q, pose = src.joint_pos[k], src.object_pose[k]
    if int(src.lead_hand[k]) == LEFT:
        q = mirror_joints(q)
        pose = np.concatenate([mirror_points(pose[:3]), mirror_quat(pose[3:])])
    return q, pose


def _collect(attempts, outcome: dict, stride: int, progress: bool, desc: str):
    """Runs scripted episodes (an iterable of thunks), keeping the thinned steps of those that
    succeed; counts every other outcome in ``outcome``."""
    qs, poses, stages = [], [], []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=outcome["episodes"], desc=desc, unit="ep")
    for attempt in attempts:
        out = attempt()
        if bar is not None:
            bar.update(1)
        if isinstance(out, str):
            outcome[out] += 1
            continue
        q, pose, stage, res = out
        if not res["success"]:
            outcome["failed"] += 1
            continue
        outcome["kept"] += 1
        qs.append(q[stride - 1::stride])
        poses.append(pose[stride - 1::stride])
        stages.append(stage[stride - 1::stride])
        if bar is not None:
            bar.set_postfix(kept=outcome["kept"])
    if bar is not None:
        bar.close()
    if not qs:
        raise InitLibraryError(f"no scripted handoff succeeded ({outcome})")
    return np.concatenate(qs), np.concatenate(poses), np.concatenate(stages)


def library_from_handoffs(grasp_library: str | Path, task: str = "handover", object_name: str | None = None,
                          episodes: int = 256, every_s: float = 0.1, seed: int = 0, min_height_m: float = 0.05,
                          both_directions: bool = True, cfg: HandoffConfig | None = None,
                          progress: bool = False) -> InitLibrary:
    """Scripted handoffs from ``grasp_library``'s one-hand grasps (see the module docstring)."""
    script, src, obj, stride = _load_source(grasp_library, task, object_name, every_s, episodes, cfg)
    templates = script.templates(src, min_height_m)
    if not templates:
        raise InitLibraryError(f"{grasp_library} has no state in which one known lead hand alone holds the object "
                               f"{min_height_m} m up (states need lead_hand: record them with --policy)")
    rng = np.random.default_rng(seed)
    outcome = {"episodes": episodes, "no_ik": 0, "dropped_by_a": 0, "failed": 0, "kept": 0}
    rolled: set[int] = set()

    def attempt():
        k = int(rng.integers(len(templates)))
        if k not in rolled:
            script.choose_roll(templates[k])
            rolled.add(k)
        return script.run(templates[k], rng)

    q, pose, stage = _collect((attempt for _ in range(episodes)), outcome, stride, progress, "handoffs")
    meta = {"task": task, "object": obj, "source": {"kind": "handoff", "grasp_library": str(grasp_library),
            "templates": len(templates), "seed": seed, **outcome}, "every_s": every_s}
    lib = InitLibrary(q, pose, meta, np.full(len(q), RIGHT), stage)
    return lib.concat(lib.mirrored()) if both_directions else lib


def library_from_releases(library: str | Path, task: str = "handover", object_name: str | None = None,
                          episodes: int = 256, every_s: float = 0.1, seed: int = 0, both_directions: bool = True,
                          cfg: HandoffConfig | None = None, progress: bool = False) -> InitLibrary:
    """The second half of scripted handoffs, from ``library``'s states in which both hands hold
    the object (e.g. a handover policy's own, ``dexmani init record --policy handover.pt --stage
    contact_b``): B closes its grip, A lets go and withdraws, B carries the object to the final
    goal (:meth:`HandoffScript.release`). Up to ``episodes`` states with a known lead hand are
    tried, drawn without replacement; those of other kinds are counted as ``not_both_holding``.
    Every recorded step is at stage 3 (contact_b)."""
    script, src, obj, stride = _load_source(library, task, object_name, every_s, episodes, cfg)
    known = np.flatnonzero((src.lead_hand >= 0) & ((src.stage < 0) | (src.stage >= 3)))
    if known.size == 0:
        raise InitLibraryError(f"{library} has no state with a known lead hand past hand B's touch (states need "
                               f"lead_hand: record them with --policy)")
    rng = np.random.default_rng(seed)
    picked = rng.permutation(known)[:episodes]
    outcome = {"episodes": int(picked.size), "not_both_holding": 0, "failed": 0, "kept": 0}
    attempts = (lambda k=k: script.release(*as_right_handed(src, int(k))) for k in picked)
    q, pose, stage = _collect(attempts, outcome, stride, progress, "releases")
    meta = {"task": task, "object": obj, "source": {"kind": "release", "library": str(library), "seed": seed,
            **outcome}, "every_s": every_s}
    lib = InitLibrary(q, pose, meta, np.full(len(q), RIGHT), stage)
    return lib.concat(lib.mirrored()) if both_directions else lib


def hand_b_frontier(lib: InitLibrary, task_cfg, b_within_m: float = 0.10, num_envs: int = 256) -> InitLibrary:
    """The states of a handover library at hand B's frontier, where B's grasp is made or lost:
    those at stage 2 with hand B's fingertip centre within ``b_within_m`` of the centre of its
    stickers (B about to grasp), and those at stage 3 in which hand A still touches the object
    (both hands on it, before A has let go). States recorded later (A gone, B carrying) and
    earlier (B far) are left out. ``task_cfg`` is the handover config whose object and sticker
    patterns define B's stickers; each state's hand A is its recorded lead hand."""
    from dataclasses import replace

    from .tasks import make_env

    if task_cfg.task != "handover":
        raise ValueError(f"hand B's frontier is a handover notion, not one of {task_cfg.task!r}")
    recorded = lib.meta.get("object")
    if recorded is not None and recorded != task_cfg.objects:
        raise ValueError(f"the library's states hold {recorded!r} but the config's object is {task_cfg.objects!r}: "
                         "B's stickers would be another object's (give the config the library was made for)")
    known = (lib.stage >= 2) & (lib.lead_hand >= 0)
    if not known.any():
        raise InitLibraryError("no state has a known lead hand at stage 2 or 3 (e.g. from init record --handoff)")
    rows_all = np.flatnonzero(known)
    cfg = replace(task_cfg, num_envs=min(num_envs, rows_all.size), init=replace(task_cfg.init, use_library=False),
                  randomization=replace(task_cfg.randomization, enabled=()))
    env = make_env(cfg, seed=0, num_threads=1)
    keep = np.zeros(len(lib), dtype=bool)
    try:
        for start in range(0, rows_all.size, env.num_envs):
            rows = rows_all[start : start + env.num_envs]
            ids = np.arange(rows.size)
            env.hand_a[ids] = lib.lead_hand[rows]
            env.sim.reset(ids, joint_pos=lib.joint_pos[rows], object_pose=lib.object_pose[rows])
            b_left = env.hand_a[ids] == RIGHT
            tips = env.sim.fingertip_pos()[ids]
            tips_b = np.where(b_left[:, None, None], tips[:, LEFT], tips[:, RIGHT])
            stickers_b = env.stickers_world(RIGHT)[ids]  # pattern B's set (see Handover.stickers_object_frame)
            near = np.linalg.norm(tips_b.mean(axis=1) - stickers_b.mean(axis=1), axis=1) <= b_within_m
            touch = env.sim.contacts()[ids]
            a_touching = np.where(b_left, touch[:, RIGHT], touch[:, LEFT])
            stage = lib.stage[rows]
            keep[rows] = ((stage == 2) & near) | ((stage == 3) & a_touching)
    finally:
        env.close()
    if not keep.any():
        raise InitLibraryError(f"no state is at hand B's frontier (B within {b_within_m} m at stage 2, A touching at stage 3)")
    meta = {**lib.meta, "hand_b_frontier": {"b_within_m": b_within_m, "from_states": len(lib),
                                            "stage_2": int(np.sum(keep & (lib.stage == 2))),
                                            "stage_3": int(np.sum(keep & (lib.stage == 3)))}}
    return lib.rows(keep, meta)
