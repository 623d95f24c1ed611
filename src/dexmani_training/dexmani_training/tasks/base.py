"""The manipulation environment every task builds on: a :class:`gr1_sim.BatchedSim` plus
actions, observations, domain randomization, task-aware initialization, episode bookkeeping
and per-stage success statistics. It speaks rsl_rl's ``VecEnv`` protocol (torch in, torch out).

A task subclass says where objects and goals go (``sample_nominal_object``, ``sample_goals``),
which hand uses which stickers, how the reward is made (``compute_rewards``), and what counts
as each stage of success (``update_stages``).

Actions (26, canonical joint order, each in [−1, 1] after clipping):

- arm joints: *relative* — the target moves by ``arm_action_scale_rad`` × a per control step
  (1 rad/s at the defaults), which keeps exploration smooth for 7-DoF arms;
- hand joints: *relative* by default — the target moves by ``hand_action_scale_rad`` × a per
  step (4 rad/s: open to closed in about 8 steps), so a closed hand stays closed while the
  policy outputs ~0 and exploration noise does not flicker the fingers; ``hand_mode:
  absolute`` maps a = −1 fully open … +1 fully closed instead (the normalized hand target of the
  paper's generalist). Measured: started from init-library states that hold the cube, zero
  actions keep 17 of 23 cubes up in relative mode and 12 of 23 in absolute mode (a = 0 is a
  half-closed hand).

Observations (rsl_rl obs groups):

- ``policy`` (the actor): joint positions relative to the default pose (26, noised), the
  object position in the robot base frame (3, noised), the goal in the base frame (3), with
  ``actor_goal_offset`` goal − object (3), with ``actor_fingertips`` the 8 fingertips relative
  to the object (24: forward kinematics of the noised joint positions minus the noised object
  position, so nothing a robot lacks), and the previous action (26, the policy's own output).
  With the frame-lag term, an environment may see the previous step's ``policy`` observation.
- ``critic`` (privileged, noiseless): the same plus joint velocities (26), the 8 fingertip
  positions (24, base frame), object orientation (4) and linear / angular velocity (6), the
  randomization scales (6: mass, object friction, size, hand friction, kp, kd), episode
  progress (1) and the task's own extras (active hand, stage).

Mirror symmetry (``mirror_symmetry``): in an environment whose episode is the left-handed
version of the task (``mirrored_envs``), both observations are the mirror image of the state
(``symmetry.py``: left and right joints swapped, roll and yaw signs flipped, y → −y) and the
policy's action is mirrored back before it is applied. The policy therefore always acts as if
the task were right-handed; a runtime must apply the same two maps.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import mujoco
import numpy as np
import torch
from gr1_description.physics import PhysicsParams
from gr1_sim.batch import BatchedSim
from gr1_sim.objects import OBJECT_GROUPS, ObjectSpec, object_group
from gr1_sim.scene import (
    CATEGORY_LEFT_HAND,
    CATEGORY_RIGHT_HAND,
    build_scene,
    scene_config,
)
from tensordict import TensorDict

from gr1_description import joints as jt
from gr1_description.kinematics import FingertipKinematics

from ..dataclass_config import plain
from ..symmetry import (
    mirror_angular,
    mirror_fingertips,
    mirror_joints,
    mirror_points,
    mirror_quat,
)
from .randomization import (
    EnvRandomization,
    ModelRandomizer,
    RandomizationConfig,
    force_update,
    random_rotation_quat,
)
from .stickers import make_stickers, pad_sticker_sets

LEFT, RIGHT = 0, 1


def _arm_mask() -> np.ndarray:
    names = jt.joint_names()
    return np.array([("shoulder" in n or "elbow" in n or "wrist" in n) for n in names])


def side_mask(side: int) -> np.ndarray:
    prefix = ("left_", "L_") if side == LEFT else ("right_", "R_")
    return np.array([n.startswith(prefix) for n in jt.joint_names()])


def side_joint_indices(side: int) -> tuple[np.ndarray, np.ndarray]:
    """One side's arm joints and finger joints, as indices into the canonical joint order."""
    arm, mine = _arm_mask(), side_mask(side)
    return np.flatnonzero(arm & mine), np.flatnonzero(~arm & mine)


def hand_open_closed() -> tuple[np.ndarray, np.ndarray]:
    """Per joint, the open and the closed finger target: the joint-limit ends nearer to and
    farther from zero (arm entries are meaningless)."""
    lo, hi = jt.lower_limits(), jt.upper_limits()
    near_lo = np.abs(lo) < np.abs(hi)
    return np.where(near_lo, lo, hi), np.where(near_lo, hi, lo)


def ready_pose() -> np.ndarray:
    """The default pose: forearms forward and slightly down, palms turned down (wrist yaw
    ±1.5 rad) and tilted inward, hands open ~5–15 cm above a 0.82 m table — a pre-grasp pose
    for grasps from above."""
    q = np.zeros(jt.NUM_CONTROLLED)
    names = jt.joint_names()
    for side, mirror in (("left", 1.0), ("right", -1.0)):
        q[names.index(f"{side}_shoulder_pitch_joint")] = -0.1
        q[names.index(f"{side}_shoulder_roll_joint")] = 0.1 * mirror
        q[names.index(f"{side}_elbow_pitch_joint")] = -1.25
        q[names.index(f"{side}_wrist_yaw_joint")] = -1.5 * mirror
        q[names.index(f"{side}_wrist_roll_joint")] = -0.5 * mirror
    return np.clip(q, jt.lower_limits(), jt.upper_limits())


@dataclass
class ActionConfig:
    arm_action_scale_rad: float = 0.05  # per control step, at a = 1
    hand_mode: str = "relative"  # relative | absolute
    hand_action_scale_rad: float = 0.2  # per step, only for hand_mode relative


@dataclass
class RewardConfig:
    contact_alpha: float = 40.0  # α, 1/m, left hand
    contact_beta: float = 40.0  # β, 1/m, right hand
    contact_weight: float = 1.0
    goal_weight: float = 30.0  # per metre of object–goal distance
    lift_weight: float = 50.0  # per metre of lift above the resting height, capped at lift_cap_m
    lift_cap_m: float = 0.1
    success_bonus: float = 5.0  # per second while the success condition holds
    goal_track_weight: float = 10.0  # per second, × (1 − tanh(d / goal_track_width_m)) while held
    goal_track_width_m: float = 0.05
    # Per second while the object is held (the task's hand(s) touch it, the table does not).
    # The contact term alone pays about as much for fingertips hovering on stickers as for a
    # grasp, and lift pays nothing for the first millimetres; a run stuck there (contact return
    # 6.5, no nominal pickup in 1.4 M steps) is what this term is for.
    hold_weight: float = 2.0
    stage_bonus_scale: float = 5.0  # handover: paid once per stage, × the stage number
    action_rate_weight: float = 0.01
    termination_penalty: float = 10.0  # once, when the object falls off the table or leaves the workspace
    sticker_points_per_side: int = 3
    sticker_spread: float = 0.5


@dataclass
class InitConfig:
    # An init-state library: a path (.npz) or a shipped library's name (data/init/<name>.npz);
    # None: the task's default.
    library: str | None = None
    probability: float = 0.5  # fraction of resets drawn from the library
    use_library: bool = True
    # On a reset from the library, the finger targets of each hand that touches the object start
    # this much further closed than the recorded finger positions (clipped to the limits). A
    # library keeps positions, not targets: a hand that held the object was commanding a tighter
    # grip than where its fingers stopped, and with targets at the recorded positions it starts
    # out squeezing nothing. 0 (the default): targets at the recorded positions.
    grip_rad: float = 0.0
    # Only the library's states whose recorded stage (``InitLibrary.stage``) is one of these,
    # e.g. ``[2]`` for handover states with the object at the intermediate goal before hand B's
    # touch; empty (the default): every state.
    stages: tuple[int, ...] = ()


@dataclass
class TaskConfig:
    """Settings shared by every task. Units: metres, seconds, radians."""

    task: str = "grasp_and_reach"
    scene: str = "tabletop"
    objects: str = "cube_5cm"  # an object group (see `dexmani sim list`) or one object name
    num_envs: int = 64
    episode_length_s: float = 4.0
    control_decimation: int = 10  # physics steps (5 ms) per control step: 20 Hz
    success_distance_m: float = 0.05
    pickup_height_m: float = 0.05
    success_hold_steps: int = 5
    drop_below_table_m: float = 0.05  # terminate when the object falls this far below the table top
    # Left-handed episodes seen as their mirror image (see ``symmetry.py``): tasks with a left
    # and a right version set it, so one set of weights learns both from all the data.
    mirror_symmetry: bool = False
    # The actor also sees goal − object (3, from the noised object position): a difference the
    # MLP could form itself from the two positions, given explicitly so that goal-directed
    # motion does not have to be learned through it.
    actor_goal_offset: bool = False
    # The actor also sees its 8 fingertip positions relative to the object (24, base frame),
    # computed by forward kinematics from the *observed* (noised) joint positions and the
    # observed object position: nothing the robot does not know from its encoders and its
    # perception, but the arm's kinematics no longer have to be learned through the MLP.
    actor_fingertips: bool = False
    physics: str | None = None  # physics YAML (e.g. autotune's tuned.yaml)
    action: ActionConfig = field(default_factory=ActionConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)
    init: InitConfig = field(default_factory=InitConfig)

    def validate(self) -> None:
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {self.num_envs}")
        if self.episode_length_s <= 0:
            raise ValueError(f"episode_length_s must be > 0, got {self.episode_length_s}")
        if self.action.hand_mode not in ("absolute", "relative"):
            raise ValueError(f"action.hand_mode must be 'absolute' or 'relative', got {self.action.hand_mode!r}")
        if not 0.0 <= self.init.probability <= 1.0:
            raise ValueError(f"init.probability must be in [0, 1], got {self.init.probability}")
        if self.init.grip_rad < 0:
            raise ValueError(f"init.grip_rad must be >= 0, got {self.init.grip_rad}")
        if any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in self.init.stages):
            raise ValueError(f"init.stages must be whole numbers >= 0, got {list(self.init.stages)}")
        self.randomization.validate()
        try:
            object_group(self.objects)
        except KeyError:
            raise ValueError(
                f"unknown object group {self.objects!r}; valid groups: {sorted(OBJECT_GROUPS)}, or an object name"
            ) from None

    def without_training_aids(self) -> "TaskConfig":
        """This config with the task's training aids off (what evaluation and policy rollouts
        use; e.g. handover's ``assist_release_probability``). The base task has none."""
        return self

    def training_aids_on(self) -> bool:
        """Whether any of the task's training aids is on (``without_training_aids`` changes it)."""
        return self.without_training_aids() != self

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))


class ManipulationEnv:
    """Batched task environment (rsl_rl ``VecEnv``)."""

    #: extra critic features a task adds (its ``task_critic_features`` width)
    num_task_critic_features = 0
    #: stage names in order; the task's ``update_stages`` sets ``self.stage_reached[name]``
    stage_names: tuple[str, ...] = ("contact", "pickup", "success")
    #: numeric fields of the task's episode records (``episode_record_extras``) that say how an
    #: episode went beyond its stages; the trainer logs their mean over nominal episodes
    #: (``nominal/<name>``) and evaluation their mean and median (``episode_metrics``)
    episode_metrics: tuple[str, ...] = ()

    def __init__(self, cfg: TaskConfig, seed: int = 0, num_threads: int | None = None, init_library=None):
        cfg.validate()
        self.cfg = cfg
        self.device = "cpu"
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        physics = PhysicsParams.load(cfg.physics) if cfg.physics else None
        self.object_specs: tuple[ObjectSpec, ...] = object_group(cfg.objects)
        scenes = [
            build_scene(scene_config(cfg.scene, object=o.name, control_decimation=cfg.control_decimation), physics)
            for o in self.object_specs
        ]
        self.sim = BatchedSim(scenes, cfg.num_envs, seed=seed, num_threads=num_threads)
        self.scene = self.sim.scene
        self.fingertip_fk = FingertipKinematics(self.scene.model, self.scene.physics) if cfg.actor_fingertips else None
        self.num_envs = cfg.num_envs
        self.num_actions = jt.NUM_CONTROLLED
        self.dt_s = self.sim.control_dt_s
        self.max_episode_length = int(round(cfg.episode_length_s / self.dt_s))
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long)
        self.base_pos = self.scene.base_pos_m
        self.table_top_z = self.scene.config.table_height_m
        self.default_pose = ready_pose()
        self.lower, self.upper = jt.lower_limits(), jt.upper_limits()
        self.arm_mask = _arm_mask()
        self.side_masks = np.stack([side_mask(LEFT), side_mask(RIGHT)])
        self.env_object = [self.object_specs[k] for k in self.sim.env_scene]
        self.nominal_mass = np.array([o.nominal_mass_kg for o in self.env_object])

        # Per-env model randomizers (pristine values captured once).
        cams = list(self.scene.camera_ids.values())
        self.randomizers = []
        for i, m in enumerate(self.sim.models):
            sc = self.sim.scenes[self.sim.env_scene[i]]
            hand = np.flatnonzero(np.isin(sc.geom_category, (CATEGORY_LEFT_HAND, CATEGORY_RIGHT_HAND)))
            self.randomizers.append(ModelRandomizer(m, sc.object_body_id, hand, sc.actuator_ids, cams))
        self.dr = EnvRandomization.nominal(self.num_envs, self.nominal_mass, np.array([o.nominal_friction for o in self.env_object]))

        # Stickers per scene (object frame, nominal size), padded to one array.
        r = cfg.reward
        self.sticker_patterns = self.sticker_patterns_for()
        sets = [make_stickers(o, self.sticker_patterns[side], r.sticker_points_per_side, r.sticker_spread)
                for side in (LEFT, RIGHT) for o in self.object_specs]
        padded = pad_sticker_sets(sets)  # one size for both hands and all objects
        n_obj = len(self.object_specs)
        self.stickers_local = [padded[side * n_obj : (side + 1) * n_obj][self.sim.env_scene] for side in (LEFT, RIGHT)]

        # Task-aware initialization.
        self.init_library = init_library if init_library is not None else self.load_default_library()
        if self.init_library is not None and cfg.init.stages:
            self.init_library = self.init_library.with_stages(cfg.init.stages)

        n = self.num_envs
        self.goal = np.zeros((n, 3))
        self.goal_distance0 = np.zeros(n)  # object–goal distance when the episode began
        self.object_rest_z = np.zeros(n)
        self.targets = np.tile(self.default_pose, (n, 1))  # the runtime's joint targets
        self.commanded = self.targets.copy()  # what the motors received (action lag: the previous targets)
        self.last_action = np.zeros((n, self.num_actions))
        self.applied_action = np.zeros((n, self.num_actions))  # the action after action noise
        self.active_side = np.full(n, RIGHT)
        self.success_streak = np.zeros(n, dtype=int)
        self.stage_reached = {s: np.zeros(n, dtype=bool) for s in self.stage_names}
        self.episode_sums: dict[str, np.ndarray] = {}
        self.from_library = np.zeros(n, dtype=bool)
        self.library_lead_hand = np.full(n, -1)  # the library state's lead hand (−1: not known or nominal)
        self.library_stage = np.full(n, -1)  # and how many stages its episode had reached
        self._policy_obs_prev: np.ndarray | None = None
        self.completed: list[dict[str, Any]] = []  # finished-episode records since last drain
        self.cfg_dict = cfg.to_dict()
        self.task_difficulty = 1.0  # see set_task_difficulty: evaluation always runs the full task
        self.task_difficulty_spread = 0.0  # see set_task_difficulty: training only
        self.episode_difficulty = np.ones(n)  # each episode's own difficulty, drawn at its reset
        self.episode_at_frontier = np.ones(n, dtype=bool)  # and whether it is the curriculum's current one
        self.reset()

    # --- hooks for tasks ----------------------------------------------------------------------
    def sticker_patterns_for(self) -> tuple[str, str]:
        return ("all_side_centres", "all_side_centres")

    def load_default_library(self):
        from ..init_library import load_task_library

        if not self.cfg.init.use_library or self.cfg.init.probability <= 0:
            return None
        return load_task_library(self.cfg.task, self.cfg.init.library)

    def sample_nominal_object(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Object centre xy (k×2, world) and yaw (k,) before randomization."""
        raise NotImplementedError

    def sample_goals(self, ids: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def on_reset(self, ids: np.ndarray) -> None:
        """Task state after the physics reset (active hand, stage, ...)."""

    def compute_rewards(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def update_stages(self, state: dict[str, np.ndarray]) -> np.ndarray:
        """Update ``self.stage_reached`` and return this step's success condition (N,)."""
        raise NotImplementedError

    def task_critic_features(self) -> np.ndarray:
        return np.zeros((self.num_envs, 0))

    def lead_hand(self) -> np.ndarray:
        """The hand (N: 0 left, 1 right, −1 none) that begins the task in each environment,
        where the task has one: kept with init-library states recorded from rollouts, so that a
        reset from such a state gives the hand its role back (``library_lead_hand``)."""
        return np.full(self.num_envs, -1)

    def stages_in_order(self) -> np.ndarray:
        """How many of ``stage_names``, in order, each environment's episode has reached (N)."""
        reached = np.stack([self.stage_reached[s] for s in self.stage_names], axis=1)
        return np.cumprod(reached, axis=1).sum(axis=1)

    def mirrored_envs(self) -> np.ndarray:
        """Which environments (N, bool) run the left-handed version of the task; only used with
        ``mirror_symmetry``."""
        return np.zeros(self.num_envs, dtype=bool)

    def _mirror_mask(self, ids: np.ndarray | None = None) -> np.ndarray:
        m = self.mirrored_envs() if self.cfg.mirror_symmetry else np.zeros(self.num_envs, dtype=bool)
        return m if ids is None else m[ids]

    def action_mask(self) -> np.ndarray | None:
        """Joints (N×26 bool) whose actions are ignored (held at the default pose)."""
        return None

    @classmethod
    def unused_actions(cls, cfg: TaskConfig) -> np.ndarray:
        """Actions (26 bool, canonical joint order) that this task never applies in the frame
        the policy acts in (after mirroring): a policy trained on it has learned nothing for
        them. Used when another task's training starts from this task's actor."""
        return np.zeros(jt.NUM_CONTROLLED, dtype=bool)

    # --- reset ------------------------------------------------------------------------------
    def reset(self, env_ids: np.ndarray | None = None) -> None:
        ids = np.arange(self.num_envs) if env_ids is None else np.asarray(env_ids, dtype=int)
        if ids.size == 0:
            return
        k = ids.size
        rc = self.cfg.randomization
        rng = self.rng
        st = rc.strength
        self._draw_episode_difficulty(ids)

        def draw(term, lo_hi, nominal):
            # nominal + strength·(U(lo, hi) − nominal); the nominal value when the term is off
            return nominal + st * (rng.uniform(*lo_hi) - nominal) if rc.on(term) else nominal

        # Reset-time model randomization.
        hand_friction0 = self.scene.config.model.hand_friction
        for i in ids:
            o = self.env_object[i]
            self.dr.mass_kg[i] = draw("object_mass", rc.object_mass_kg or o.mass_range_kg, o.nominal_mass_kg)
            self.dr.object_friction[i] = draw("object_friction", rc.object_friction, o.nominal_friction)
            scalable = not self.randomizers[i].mesh_object  # mesh vertices are shared: novel prisms keep their size
            self.dr.object_scale[i] = draw("object_scale", rc.object_scale, 1.0) if scalable else 1.0
            self.dr.hand_friction[i] = draw("hand_friction", rc.hand_friction, hand_friction0)
            self.dr.p_gain_scale[i] = draw("p_gain", rc.p_gain_scale, 1.0)
            self.dr.d_gain_scale[i] = draw("d_gain", rc.d_gain_scale, 1.0)
            ncam = len(self.randomizers[i].cameras)
            cam_pos = st * rng.uniform(-rc.camera_position_m, rc.camera_position_m, (ncam, 3)) if rc.on("camera_position") else np.zeros((ncam, 3))
            cam_rot = np.array([random_rotation_quat(rng, st * rc.camera_rotation_rad) if rc.on("camera_rotation") else [1.0, 0, 0, 0] for _ in range(ncam)])
            cam_fov = st * rng.uniform(-rc.camera_fov_rad, rc.camera_fov_rad, ncam) if rc.on("camera_fov") else np.zeros(ncam)
            self.randomizers[i].apply(
                self.sim.models[i], scale=self.dr.object_scale[i], mass_kg=self.dr.mass_kg[i],
                object_friction=self.dr.object_friction[i], hand_friction=self.dr.hand_friction[i],
                p_scale=self.dr.p_gain_scale[i], d_scale=self.dr.d_gain_scale[i],
                cam_pos_offset=cam_pos, cam_rot=cam_rot, cam_fov_delta=cam_fov,
            )
        self.dr.force_n[ids] = 0.0

        # Initial state: the task's nominal placement, or a library state.
        joint_pos = np.tile(self.default_pose, (k, 1))
        xy, yaw = self.sample_nominal_object(ids)
        half_h = np.array([self.env_object[i].half_height_m(self.dr.object_scale[i]) for i in ids])
        pos = np.concatenate([xy, (self.table_top_z + half_h + 0.002)[:, None]], axis=1)
        quat_base = np.tile([1.0, 0.0, 0.0, 0.0], (k, 1))
        from_lib = np.zeros(k, dtype=bool)
        lead, stage = np.full(k, -1), np.full(k, -1)
        lib = self.init_library
        if lib is not None and self.cfg.init.use_library:
            from_lib = rng.random(k) < self.cfg.init.probability
            if from_lib.any():
                rows = lib.sample_rows(int(from_lib.sum()), rng)
                joint_pos[from_lib] = lib.joint_pos[rows]
                pos[from_lib] = lib.object_pose[rows, :3]
                quat_base[from_lib] = lib.object_pose[rows, 3:7]
                lead[from_lib], stage[from_lib] = lib.lead_hand[rows], lib.stage[rows]
                yaw[from_lib] = 0.0
        # Position and yaw jitter apply to nominal placements only: a library state may have
        # the object in the hand, and moving it would put it inside the fingers.
        nominal = ~from_lib
        if rc.on("object_position"):
            pos[nominal, :2] += st * rng.uniform(*rc.object_position_m, (int(nominal.sum()), 2))
        if rc.on("object_yaw"):
            yaw[nominal] = yaw[nominal] + st * rng.uniform(*rc.object_yaw_rad, int(nominal.sum()))
        quat = np.zeros((k, 4))
        for r in range(k):
            qz = np.array([np.cos(yaw[r] / 2), 0.0, 0.0, np.sin(yaw[r] / 2)])
            mujoco.mju_mulQuat(quat[r], qz, quat_base[r])
        self.sim.reset(ids, joint_pos=joint_pos, object_pose=np.concatenate([pos, quat], axis=1))
        for i in ids:
            self.sim.datas[i].xfrc_applied[:] = 0.0

        self.from_library[ids] = from_lib
        self.library_lead_hand[ids] = lead
        self.library_stage[ids] = stage
        self.object_rest_z[ids] = self.table_top_z + half_h
        self.targets[ids] = joint_pos
        if self.cfg.init.grip_rad > 0 and from_lib.any():
            self._grip_holding_hands(ids[from_lib])
        self.commanded[ids] = self.targets[ids]
        self.last_action[ids] = 0.0
        self.applied_action[ids] = 0.0
        self.success_streak[ids] = 0
        for s in self.stage_reached.values():
            s[ids] = False
        for v in self.episode_sums.values():
            v[ids] = 0.0
        self.episode_length_buf[torch.as_tensor(ids)] = 0
        self.goal[ids] = self.sample_goals(ids)
        self.on_reset(ids)
        self.goal_distance0[ids] = np.linalg.norm(self.sim.object_pose()[ids, :3] - self.goal[ids], axis=1)
        if self._policy_obs_prev is not None:
            self._policy_obs_prev[ids] = self._policy_obs(ids)

    def _grip_holding_hands(self, ids: np.ndarray) -> None:
        """Finger targets ``init.grip_rad`` further closed for each hand touching the object
        (library resets; see ``InitConfig.grip_rad``)."""
        open_q, closed_q = hand_open_closed()
        closing = np.sign(closed_q - open_q)
        touch = self.sim.contacts()[ids, :2]  # left hand–object, right hand–object
        for side in (LEFT, RIGHT):
            rows = ids[touch[:, side]]
            cells = np.ix_(rows, side_joint_indices(side)[1])
            t = self.targets[cells] + self.cfg.init.grip_rad * closing[cells[1]]
            self.targets[cells] = np.clip(t, self.lower[cells[1]], self.upper[cells[1]])

    # --- stepping -----------------------------------------------------------------------------
    def _actions_to_targets(self, a: np.ndarray) -> np.ndarray:
        ac = self.cfg.action
        targets = self.targets.copy()
        arm = self.arm_mask
        targets[:, arm] += ac.arm_action_scale_rad * a[:, arm]
        hand = ~arm
        if ac.hand_mode == "absolute":
            # −1 open (joint value nearest 0), +1 closed (the limit farthest from 0).
            open_q, closed_q = (q[hand] for q in hand_open_closed())
            targets[:, hand] = open_q + (a[:, hand] + 1.0) / 2.0 * (closed_q - open_q)
        else:
            targets[:, hand] += ac.hand_action_scale_rad * a[:, hand]
        mask = self.action_mask()
        if mask is not None:
            targets[mask] = np.broadcast_to(self.default_pose, targets.shape)[mask]
        return np.clip(targets, self.lower, self.upper)

    def overridden_joints(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Where this step's targets are the env's and not the policy's (a training aid that
        moves joints for the policy): (rows, joint mask per row, in the env's frame). None:
        nowhere, and ``step`` reports no executed actions. The base task overrides nothing."""
        return None

    def _action_bounds(self, previous: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The inverse of ``_actions_to_targets`` per joint: the lowest and highest action (env
        frame) that moves the targets from ``previous`` to ``targets``. Equal, except at a joint
        limit, where every action pushing into it does (holding a closed grip is not action 0)."""
        ac = self.cfg.action
        arm = self.arm_mask
        lo = (targets - previous) / np.where(arm, ac.arm_action_scale_rad, ac.hand_action_scale_rad)
        rising = np.ones(arm.size)  # the sign of d target / d action
        if ac.hand_mode == "absolute":
            open_q, closed_q = (q[~arm] for q in hand_open_closed())
            lo[:, ~arm] = 2.0 * (targets[:, ~arm] - open_q) / (closed_q - open_q) - 1.0
            rising[~arm] = np.sign(closed_q - open_q)
        hi = lo.copy()
        at_upper = targets >= self.upper - 1e-9
        at_lower = targets <= self.lower + 1e-9
        hi[at_upper & (rising > 0) | at_lower & (rising < 0)] = np.inf
        lo[at_lower & (rising > 0) | at_upper & (rising < 0)] = -np.inf
        return lo, hi

    def _executed_actions(self, policy_action: np.ndarray, mirrored: np.ndarray, previous: np.ndarray):
        """The actions in the policy's frame that the env executed this step (the policy's own,
        clipped, except where ``overridden_joints`` says otherwise) and which of them the env
        chose (a mask, envs × actions, in the policy's frame), or None where no training aid asks
        to report them."""
        over = self.overridden_joints()
        if over is None:
            return None
        rows, mask = over
        lo, hi = self._action_bounds(previous[rows], self.targets[rows])
        executed = policy_action.copy()
        own = policy_action[rows].copy()
        flip = mirrored[rows]
        own[flip] = mirror_joints(own[flip])  # to the env's frame, where the override is known
        # The executed action nearest the policy's own (the same where that one did it).
        own = np.where(mask, np.clip(np.clip(own, lo, hi), -1.0, 1.0), own)
        own[flip] = mirror_joints(own[flip])  # and back (an involution)
        mask = mask.astype(float)
        mask[flip] = mirror_joints(mask[flip])  # a mirrored joint's sign flip leaves the mask 0/1 up to sign
        executed[rows] = own
        overridden = np.zeros(executed.shape, dtype=bool)
        overridden[rows] = mask != 0
        return executed.astype(np.float32), overridden

    def step(self, actions: torch.Tensor):
        rc = self.cfg.randomization
        policy_action = np.clip(np.asarray(actions.detach().cpu().numpy(), dtype=float), -1.0, 1.0)
        a = policy_action.copy()
        mirrored = self._mirror_mask()
        if mirrored.any():
            a[mirrored] = mirror_joints(a[mirrored])
        st = rc.strength
        # Action noise is added to the action itself (Table 4), so with relative actions it moves
        # the runtime's targets. Action lag is a command one step late: the motors get the
        # runtime's previous targets (``commanded``); the new action is not lost, it arrives next step.
        if rc.on("action_noise") and rc.action_noise > 0:
            a = np.clip(a + st * self.rng.normal(0.0, rc.action_noise, a.shape), -1.0, 1.0)
        previous = self.targets
        self.targets = self._actions_to_targets(a)
        executed = self._executed_actions(policy_action, mirrored, previous)
        cmd = self.targets
        if rc.on("action_lag") and rc.action_lag_probability > 0:
            lag = self.rng.random(self.num_envs) < st * rc.action_lag_probability
            cmd = cmd.copy()
            cmd[lag] = previous[lag]
        self.commanded = cmd
        self.applied_action = a
        if rc.on("random_force"):
            self.dr.force_n = force_update(self.dr.force_n, self.dr.mass_kg, self.rng, rc, self.dt_s, st)
            for i, d in enumerate(self.sim.datas):
                d.xfrc_applied[self.randomizers[i].object_body, :3] = self.dr.force_n[i]
        self.sim.step(self.commanded)
        self.episode_length_buf += 1

        state = self._state()
        success_now = self.update_stages(state)
        self.success_streak = np.where(success_now, self.success_streak + 1, 0)
        self.stage_reached["success"] |= self.success_streak >= self.cfg.success_hold_steps
        state["success_now"] = success_now
        terms = self.compute_rewards(state)
        terms["action_rate"] = -self.cfg.reward.action_rate_weight * np.sum((policy_action - self.last_action) ** 2, axis=1)
        terminated = self.terminated(state)
        # A one-off penalty (not a rate): scaled by 1/dt so that × dt below pays it once.
        terms["termination"] = -self.cfg.reward.termination_penalty * terminated / self.dt_s
        reward = np.sum(list(terms.values()), axis=0) * self.dt_s
        for name, v in terms.items():
            self.episode_sums.setdefault(name, np.zeros(self.num_envs))
            self.episode_sums[name] += v * self.dt_s
        self.last_action = policy_action

        time_out = self.episode_length_buf.numpy() >= self.max_episode_length
        done = terminated | time_out
        done_ids = np.flatnonzero(done)
        if done_ids.size:
            self._record_episodes(done_ids, terminated[done_ids])
            self.reset(done_ids)
        obs = self.get_observations()
        extras = {"time_outs": torch.as_tensor(time_out & ~terminated), "log": {}}
        if executed is not None:
            extras["executed_actions"], extras["overridden"] = (torch.as_tensor(x) for x in executed)
        return obs, torch.as_tensor(reward, dtype=torch.float32), torch.as_tensor(done), extras

    def terminated(self, state: dict[str, np.ndarray]) -> np.ndarray:
        """The object fell off the table or was thrown away from the workspace."""
        pos = state["object_pos"]
        below = pos[:, 2] < self.table_top_z - self.cfg.drop_below_table_m
        far = np.linalg.norm(pos[:, :2] - self.base_pos[:2], axis=1) > 1.0
        return below | far

    def _record_episodes(self, ids: np.ndarray, terminated: np.ndarray) -> None:
        for i, term in zip(ids, terminated):
            rec = {s: bool(self.stage_reached[s][i]) for s in self.stage_names}
            rec["terminated"] = bool(term)  # ended by the object falling or leaving, not by the time limit
            rec["return"] = float(sum(v[i] for v in self.episode_sums.values()))
            rec["terms"] = {k: float(v[i]) for k, v in self.episode_sums.items()}
            rec["length"] = int(self.episode_length_buf[i])
            rec["from_library"] = bool(self.from_library[i])
            rec["object"] = self.env_object[i].name
            if self.has_task_curriculum():
                rec["task_difficulty"] = float(self.episode_difficulty[i])
                rec["at_frontier"] = bool(self.episode_at_frontier[i])  # not one of the spread's easier draws
            rec.update(self.episode_record_extras(i))
            self.completed.append(rec)

    def episode_record_extras(self, i: int) -> dict[str, Any]:
        return {}

    def drain_completed(self) -> list[dict[str, Any]]:
        out, self.completed = self.completed, []
        return out

    # --- state and observations -----------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        pose = self.sim.object_pose()
        contacts = self.sim.contacts()
        return {
            "object_pos": pose[:, :3].copy(),
            "object_quat": pose[:, 3:7].copy(),
            "fingertips": self.sim.fingertip_pos().copy(),  # N×2×4×3
            "contact_left": contacts[:, 0],
            "contact_right": contacts[:, 1],
            "contact_table": contacts[:, 2],
            "object_height": pose[:, 2] - self.object_rest_z,
        }

    def _policy_obs(self, ids: np.ndarray | None = None) -> np.ndarray:
        ids = np.arange(self.num_envs) if ids is None else ids
        rc = self.cfg.randomization
        k = ids.size
        q = self.sim.joint_pos()[ids] - self.default_pose
        if rc.on("joint_position_noise") and rc.joint_position_noise_rad > 0:
            q = q + rc.strength * self.rng.normal(0.0, rc.joint_position_noise_rad, q.shape)
        obj = self.sim.object_pose()[ids, :3] - self.base_pos
        if rc.on("object_position_noise") and rc.object_position_noise_m > 0:
            obj = obj + rc.strength * self.rng.uniform(-rc.object_position_noise_m, rc.object_position_noise_m, (k, 3))
        goal = self.goal[ids] - self.base_pos
        tips = None
        if self.fingertip_fk is not None:  # from the observed joints, relative to the observed object
            tips = self.fingertip_fk(q + self.default_pose) - self.base_pos - obj[:, None, None, :]
        m = self._mirror_mask(ids)
        if m.any():
            q[m], obj[m], goal[m] = mirror_joints(q[m]), mirror_points(obj[m]), mirror_points(goal[m])
            if tips is not None:
                tips[m] = mirror_fingertips(tips[m])
        parts = [q, obj, goal] + ([goal - obj] if self.cfg.actor_goal_offset else [])
        parts += ([tips.reshape(k, -1)] if tips is not None else []) + [self.last_action[ids]]
        return np.concatenate(parts, axis=1)

    def _critic_obs(self) -> np.ndarray:
        pose = self.sim.object_pose()
        q = self.sim.joint_pos() - self.default_pose
        qd = self.sim.joint_vel().copy()
        pos, goal, quat = pose[:, :3] - self.base_pos, self.goal - self.base_pos, pose[:, 3:7].copy()
        tips = self.sim.fingertip_pos() - self.base_pos
        vel = self.sim.object_vel().copy()
        m = self._mirror_mask()
        if m.any():
            q[m], qd[m], pos[m], goal[m] = mirror_joints(q[m]), mirror_joints(qd[m]), mirror_points(pos[m]), mirror_points(goal[m])
            quat[m], tips[m] = mirror_quat(quat[m]), mirror_fingertips(tips[m])
            vel[m] = np.concatenate([mirror_points(vel[m, :3]), mirror_angular(vel[m, 3:])], axis=1)
        progress = (self.episode_length_buf.numpy() / self.max_episode_length)[:, None]
        offset = [goal - pos] if self.cfg.actor_goal_offset else []
        return np.concatenate([
            q, pos, goal, *offset, self.last_action, 0.1 * qd, tips.reshape(self.num_envs, -1), quat, vel,
            self.dr.critic_features(self.nominal_mass), progress, self.task_critic_features(),
        ], axis=1)

    def get_observations(self) -> TensorDict:
        policy = self._policy_obs()
        rc = self.cfg.randomization
        if rc.on("frame_lag") and rc.frame_lag_probability > 0 and self._policy_obs_prev is not None:
            lag = self.rng.random(self.num_envs) < rc.strength * rc.frame_lag_probability
            shown = np.where(lag[:, None], self._policy_obs_prev, policy)
        else:
            shown = policy
        self._policy_obs_prev = policy
        return TensorDict(
            {"policy": torch.as_tensor(shown, dtype=torch.float32), "critic": torch.as_tensor(self._critic_obs(), dtype=torch.float32)},
            batch_size=[self.num_envs],
        )

    def has_task_curriculum(self) -> bool:
        """Whether the task's config asks for a difficulty curriculum (``set_task_difficulty``)."""
        return False

    def set_task_difficulty(self, difficulty: float, spread: float = 0.0) -> None:
        """The task's own curriculum knob, 0 (easiest) … 1 (the task as evaluated); takes effect
        at the next reset. Tasks without a curriculum ignore it (``has_task_curriculum``).
        ``spread``: the share of episodes whose difficulty is drawn uniformly from [0, difficulty]
        instead (training: easier episodes keep what was learned there while the frontier moves);
        0 (default, and what evaluation uses): every episode at ``difficulty``."""
        if not 0.0 <= spread <= 1.0:
            raise ValueError(f"spread must be in [0, 1], got {spread}")
        self.task_difficulty = float(np.clip(difficulty, 0.0, 1.0))
        self.task_difficulty_spread = float(spread)

    def _draw_episode_difficulty(self, ids: np.ndarray) -> None:
        d = np.full(ids.size, self.task_difficulty)
        below = np.zeros(ids.size, dtype=bool)
        if self.task_difficulty_spread > 0 and self.has_task_curriculum():  # no draw otherwise: same random stream
            below = self.rng.random(ids.size) < self.task_difficulty_spread
            d[below] = self.rng.uniform(0.0, self.task_difficulty, int(below.sum()))
        self.episode_difficulty[ids] = d
        self.episode_at_frontier[ids] = ~below

    def set_randomization_strength(self, strength: float) -> None:
        """Scale every randomization term (0 … 1, see ``RandomizationConfig.strength``); takes
        effect at the next draw (resets for reset-time terms, the next step for the others)."""
        rc = replace(self.cfg.randomization, strength=float(np.clip(strength, 0.0, 1.0)))
        self.cfg = replace(self.cfg, randomization=rc)

    # --- checkpoint metadata and RNG state ------------------------------------------------
    def rng_state(self) -> dict[str, Any]:
        return copy.deepcopy(self.rng.bit_generator.state)

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state

    def close(self) -> None:
        self.sim.close()

    # --- helpers for tasks ----------------------------------------------------------------
    def palm_pos(self) -> np.ndarray:
        """Mean fingertip position per hand (N×2×3), a cheap stand-in for the grasp centre."""
        return self.sim.fingertip_pos().mean(axis=2)

    def stickers_object_frame(self, side: int) -> np.ndarray:
        """Sticker set ``side`` in the object's frame at each env's object scale (N×S×3)."""
        return self.stickers_local[side] * self.dr.object_scale[:, None, None]

    def stickers_world(self, side: int) -> np.ndarray:
        from .rewards import stickers_world

        return stickers_world(self.sim.object_pose(), self.stickers_object_frame(side))

