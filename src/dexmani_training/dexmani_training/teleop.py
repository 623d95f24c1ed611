"""Keyboard teleoperation of the simulated robot, recording an init-state library.

The operator moves one hand at a time: the *hand point* (the centre of its four fingertips)
follows a target moved by the keys, the arm joints are solved by damped least-squares IK on
that point's Jacobian (clamped to the joint limits), and the hand opens and closes gradually.
The physics runs throughout, so grasps, pushes and lifts are real contacts. Every control step
is recorded (robot joint positions + object pose) and the library keeps one state per
``every_s`` seconds.

Keys: w/s = hand forward/back (x), a/d = left/right (y), r/f = up/down (z) — 1 cm per press;
space = close/open the hand; tab = switch hand; n = reset the scene; p = print the state;
x = quit. ``.`` does nothing for one step (a pause, useful in key scripts).

A key script (``--keys FILE``) replays keys instead of the keyboard: whitespace-separated
tokens, each a key or ``key*N`` (N presses), ``space`` and ``tab`` spelled out, ``#`` starts a
comment. Each press is followed by ``steps_per_key`` control steps of simulation.

A waypoint script (``--waypoints FILE``, YAML) is the same session driven by targets given
*relative to the object* instead of key presses — what an operator does by eye: a list of
``{hand: left|right, offset_m: [dx, dy, dz], close: bool, steps: N}`` (or ``{reset: true}``);
the hand point moves toward ``object + offset`` at most ``step_m`` per control step for N
steps while the hand opens or closes.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import mujoco
import numpy as np

from gr1_description import joints as jt
from gr1_sim.batch import BatchedSim
from gr1_sim.objects import get_object
from gr1_sim.scene import build_scene, scene_config

from .init_library import InitLibrary
from .tasks import task_config
from .tasks.base import LEFT, RIGHT, hand_open_closed, ready_pose, side_joint_indices

MOVES = {"w": (0, 1.0), "s": (0, -1.0), "a": (1, 1.0), "d": (1, -1.0), "r": (2, 1.0), "f": (2, -1.0)}
VALID_KEYS = set(MOVES) | {"space", "tab", "n", "p", "x", "."}


def parse_key_script(text: str) -> list[str]:
    keys: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        for tok in line.split():
            key, _, count = tok.partition("*")
            if key not in VALID_KEYS:
                raise ValueError(f"key script: unknown key {key!r}; valid keys: {sorted(VALID_KEYS)}")
            try:
                n = int(count) if count else 1
            except ValueError:
                raise ValueError(f"key script: bad repeat count in {tok!r}") from None
            keys.extend([key] * n)
    return keys


class TeleopSession:
    """One simulated robot driven by keys, recording every control step."""

    def __init__(self, task: str, object_name: str | None = None, step_m: float = 0.01, steps_per_key: int = 2):
        cfg = task_config(task)
        obj = object_name or (cfg.objects if cfg.objects in _object_names() else scene_config(cfg.scene).object)
        get_object(obj)
        self.task, self.object = task, obj
        sc = scene_config(cfg.scene, object=obj, control_decimation=cfg.control_decimation)
        self.scene = build_scene(sc)
        self.sim = BatchedSim(self.scene, 1, num_threads=1)
        self.step_m = step_m
        self.steps_per_key = steps_per_key
        self.arm_idx, self.hand_idx = (list(x) for x in zip(*(side_joint_indices(s) for s in (LEFT, RIGHT))))
        m = self.scene.model
        self.dof = [self.scene.dof_adr[i] for i in self.arm_idx]
        self.tip_sites = self.scene.fingertip_site_ids
        self.lower, self.upper = jt.lower_limits(), jt.upper_limits()
        self._jac = np.zeros((3, m.nv))
        self.states_q: list[np.ndarray] = []
        self.states_obj: list[np.ndarray] = []
        self.reset()

    def reset(self) -> None:
        self.sim.reset(joint_pos=ready_pose()[None])
        self.q_target = ready_pose()
        self.closure = np.zeros(2)  # 0 open … 1 closed, per hand
        self.closing = np.zeros(2, dtype=bool)
        self.side = RIGHT
        self.point_target = self.hand_point().copy()

    def hand_point(self, side: int | None = None) -> np.ndarray:
        side = self.side if side is None else side
        return self.sim.fingertip_pos()[0, side].mean(axis=0)

    def _ik(self) -> None:
        """Damped least squares on the hand point's Jacobian over the active arm's 7 joints."""
        m, d = self.sim.models[0], self.sim.datas[0]
        side = self.side
        jac = np.zeros((3, len(self.dof[side])))
        for site in self.tip_sites[side]:
            mujoco.mj_jacSite(m, d, self._jac, None, int(site))
            jac += self._jac[:, self.dof[side]] / len(self.tip_sites[side])
        for _ in range(3):
            err = self.point_target - self.hand_point()
            lam = 0.05
            dq = jac.T @ np.linalg.solve(jac @ jac.T + lam**2 * np.eye(3), err)
            idx = self.arm_idx[side]
            self.q_target[idx] = np.clip(self.q_target[idx] + np.clip(dq, -0.1, 0.1), self.lower[idx], self.upper[idx])
            break

    def press(self, key: str) -> bool:
        """Apply one key; False when the session should end."""
        if key in MOVES:
            axis, sign = MOVES[key]
            self.point_target[axis] += sign * self.step_m
        elif key == "space":
            self.closing[self.side] = not self.closing[self.side]
        elif key == "tab":
            self.side = 1 - self.side
            self.point_target = self.hand_point().copy()
        elif key == "n":
            self.reset()
        elif key == "x":
            return False
        for _ in range(self.steps_per_key):
            self.step()
        return True

    def step(self) -> None:
        self._ik()
        self.closure = np.clip(self.closure + np.where(self.closing, 0.25, -0.25), 0.0, 1.0)
        open_q, closed_q = hand_open_closed()
        for s in (LEFT, RIGHT):
            idx = self.hand_idx[s]
            self.q_target[idx] = open_q[idx] + self.closure[s] * (closed_q[idx] - open_q[idx])
        self.sim.step(self.q_target[None])
        self.states_q.append(self.sim.joint_pos()[0].copy())
        self.states_obj.append(self.sim.object_pose()[0].copy())

    def follow(self, side: int, offset_m, close: bool, steps: int) -> None:
        """Drive ``side``'s hand point toward the object + ``offset_m`` for ``steps`` steps."""
        if self.side != side:
            self.side = side
            self.point_target = self.hand_point().copy()
        self.closing[side] = close
        for _ in range(steps):
            goal = self.sim.object_pose()[0, :3] + np.asarray(offset_m, dtype=float)
            self.point_target = self.point_target + np.clip(goal - self.point_target, -self.step_m, self.step_m)
            self.step()

    def status(self) -> str:
        p = self.hand_point()
        o = self.sim.object_pose()[0, :3]
        hand = "left" if self.side == LEFT else "right"
        return (f"{hand} hand at ({p[0]:+.2f}, {p[1]:+.2f}, {p[2]:.2f}) m, {'closing' if self.closing[self.side] else 'open'}; "
                f"object at ({o[0]:+.2f}, {o[1]:+.2f}, {o[2]:.2f}); {len(self.states_q)} steps recorded")

    def library(self, every_s: float, source: dict) -> InitLibrary:
        if not self.states_q:
            raise ValueError("teleop recorded no states")
        stride = max(1, int(round(every_s / self.sim.control_dt_s)))
        q = np.array(self.states_q)[::stride]
        obj = np.array(self.states_obj)[::stride]
        # Drop states where the object left the table area or fell (not useful starts).
        c = self.scene.config
        on_table = (np.abs(obj[:, 0] - c.table_center_xy_m[0]) < c.table_size_m[0] / 2 - 0.05) & (
            np.abs(obj[:, 1] - c.table_center_xy_m[1]) < c.table_size_m[1] / 2 - 0.05)
        keep = (obj[:, 2] > c.table_height_m - 0.01) & on_table
        meta = {"task": self.task, "object": self.object, "source": source, "recorded_steps": len(self.states_q),
                "every_s": every_s, "control_dt_s": self.sim.control_dt_s}
        return InitLibrary(q[keep], obj[keep], meta)


def _object_names() -> set[str]:
    from gr1_sim.objects import OBJECTS

    return set(OBJECTS)


def run_waypoints(session: TeleopSession, path: Path) -> int:
    import yaml

    if not Path(path).is_file():
        raise FileNotFoundError(f"waypoint script {path} does not exist")
    items = yaml.safe_load(Path(path).read_text()) or []
    if not isinstance(items, list):
        raise ValueError(f"{path}: a waypoint script is a YAML list")
    for k, w in enumerate(items):
        if not isinstance(w, dict):
            raise ValueError(f"{path}: item {k} is not a mapping")
        if w.get("reset"):
            session.reset()
            continue
        unknown = set(w) - {"hand", "offset_m", "close", "steps"}
        if unknown or w.get("hand") not in ("left", "right") or len(w.get("offset_m", [])) != 3:
            raise ValueError(f"{path}: item {k} needs hand (left|right), offset_m [dx, dy, dz], close, steps; got {w}")
        session.follow(LEFT if w["hand"] == "left" else RIGHT, w["offset_m"], bool(w.get("close", False)), int(w.get("steps", 10)))
    return len(items)


def run_teleop(task: str, object_name: str | None = None, keys_file: Path | None = None, every_s: float = 0.25,
               waypoints_file: Path | None = None) -> InitLibrary:
    session = TeleopSession(task, object_name)
    if waypoints_file is not None:
        n = run_waypoints(session, waypoints_file)
        return session.library(every_s, {"kind": "teleop", "waypoints": str(waypoints_file), "items": n})
    if keys_file is not None:
        if not Path(keys_file).is_file():
            raise FileNotFoundError(f"key script {keys_file} does not exist")
        keys = parse_key_script(Path(keys_file).read_text())
        for k in keys:
            if not session.press(k):
                break
        return session.library(every_s, {"kind": "teleop", "keys": str(keys_file), "presses": len(keys)})
    if not sys.stdin.isatty():
        raise RuntimeError("interactive teleop needs a terminal; pass --keys FILE to replay a key script")
    _interactive(session)
    return session.library(every_s, {"kind": "teleop", "keys": "interactive"})


def _interactive(session: TeleopSession) -> None:
    import select
    import termios
    import tty

    print(__doc__.split("Keys:")[1].split("A key script")[0].strip(), file=sys.stderr)
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    names = {" ": "space", "\t": "tab"}
    try:
        tty.setcbreak(fd)
        running = True
        while running:
            t0 = time.monotonic()
            ready, _, _ = select.select([sys.stdin], [], [], 0.0)
            if ready:
                ch = sys.stdin.read(1)
                key = names.get(ch, ch.lower())
                if key in VALID_KEYS:
                    running = session.press(key)
                    if key == "p":
                        print("\n" + repr(session.sim.joint_pos()[0].round(3).tolist()), file=sys.stderr)
            else:
                session.step()
            print("\r" + session.status() + " " * 4, end="", file=sys.stderr, flush=True)
            time.sleep(max(0.0, session.sim.control_dt_s - (time.monotonic() - t0)))
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
        print(file=sys.stderr)


__all__ = ["TeleopSession", "parse_key_script", "run_teleop", "replace"]
