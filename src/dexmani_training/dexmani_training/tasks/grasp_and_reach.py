"""Grasp-and-reach: one hand grasps a tabletop object, lifts it and brings it to a goal.

The hand is chosen by a rule at reset: the hand whose fingertips are closer to the object.
The other arm and hand are held at the default pose (their actions are ignored), so one policy
learns both sides. The object's position, yaw and the goal are randomized.

Reward (per second; see ``rewards.py``):
  contact — the paper's contact-sticker term for the active hand (stickers on the object's
            four side faces by default);
  goal    — −w·||object − goal||;
  lift    — w·min(height above rest, cap) while the active hand touches the object and the
            table does not (shaping that pays for the first centimetres of a lift);
  goal_track — w·(1 − tanh(d/5 cm)) while the active hand holds the object (added shaping);
  success — a bonus per step while the success condition holds;
  action_rate — a small penalty on action changes.

Stages, reported separately (each "reached" if it held at any step of the episode):
  contact — the active hand touches the object;
  pickup  — the object is ≥ ``pickup_height_m`` (5 cm) above where it rested, held by the
            active hand and not touching the table;
  success — the object is within ``success_distance_m`` (5 cm) of the goal and held, for
            ``success_hold_steps`` consecutive control steps (0.25 s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import LEFT, RIGHT, ManipulationEnv, TaskConfig, side_mask
from .rewards import contact_sticker_reward, goal_tracking_reward, object_goal_reward


@dataclass
class GraspAndReachConfig(TaskConfig):
    task: str = "grasp_and_reach"
    scene: str = "tabletop"
    objects: str = "cube_5cm"
    episode_length_s: float = 4.0
    object_x_m: tuple[float, float] = (0.30, 0.38)  # world frame, on the table
    object_abs_y_m: tuple[float, float] = (0.10, 0.22)  # distance from the midline, either side
    sides: tuple[str, ...] = ("right", "left")  # which sides objects are placed on
    goal_offset_x_m: tuple[float, float] = (-0.04, 0.06)
    goal_offset_y_m: tuple[float, float] = (-0.06, 0.06)
    goal_height_m: tuple[float, float] = (0.10, 0.20)  # above the object's resting height
    sticker_pattern: str = "all_side_centres"
    mirror_symmetry: bool = True  # a left-hand episode is seen as its mirror image (one skill, both sides)
    # Fingertips relative to the object in the actor's input (see TaskConfig): 30-minute runs,
    # seed 0, eval at full randomization: best 0.675 (400 episodes) with, 0.39 without.
    actor_fingertips: bool = True

    def validate(self) -> None:
        super().validate()
        bad = [s for s in self.sides if s not in ("left", "right")]
        if bad or not self.sides:
            raise ValueError(f"sides must be a non-empty subset of ['left', 'right'], got {list(self.sides)}")


class GraspAndReach(ManipulationEnv):
    cfg: GraspAndReachConfig
    num_task_critic_features = 2
    stage_names = ("contact", "pickup", "success")

    def sticker_patterns_for(self) -> tuple[str, str]:
        return (self.cfg.sticker_pattern, self.cfg.sticker_pattern)

    def sample_nominal_object(self, ids):
        k = ids.size
        c = self.cfg
        x = self.rng.uniform(*c.object_x_m, k)
        side = self.rng.choice([1.0 if s == "left" else -1.0 for s in c.sides], k)
        y = side * self.rng.uniform(*c.object_abs_y_m, k)
        return np.stack([x, y], axis=1), np.zeros(k)

    def sample_goals(self, ids):
        k = ids.size
        c = self.cfg
        pos = self.sim.object_pose()[ids, :3]
        g = np.empty((k, 3))
        g[:, 0] = pos[:, 0] + self.rng.uniform(*c.goal_offset_x_m, k)
        g[:, 1] = pos[:, 1] + self.rng.uniform(*c.goal_offset_y_m, k)
        g[:, 2] = self.object_rest_z[ids] + self.rng.uniform(*c.goal_height_m, k)
        return g

    def on_reset(self, ids):
        palms = self.palm_pos()[ids]  # k×2×3
        obj = self.sim.object_pose()[ids, :3]
        d = np.linalg.norm(palms - obj[:, None, :], axis=2)
        closer = np.where(d[:, LEFT] < d[:, RIGHT], LEFT, RIGHT)
        # A library state recorded from a rollout knows which hand was grasping.
        lead = self.library_lead_hand[ids]
        self.active_side[ids] = np.where(lead >= 0, lead, closer)

    def lead_hand(self):
        return self.active_side.copy()

    def mirrored_envs(self):
        return self.active_side == LEFT

    def action_mask(self):
        # Hold the inactive side: N×26, True where the action is ignored.
        return self.side_masks[1 - self.active_side]

    @classmethod
    def unused_actions(cls, cfg: GraspAndReachConfig) -> np.ndarray:
        if cfg.mirror_symmetry:  # every episode is seen as a right-handed one
            return side_mask(LEFT)
        used = [side_mask(LEFT if s == "left" else RIGHT) for s in cfg.sides]
        return ~np.any(used, axis=0)

    def held(self, state) -> np.ndarray:
        touch = np.where(self.active_side == LEFT, state["contact_left"], state["contact_right"])
        return touch & ~state["contact_table"]

    def update_stages(self, state):
        touch = np.where(self.active_side == LEFT, state["contact_left"], state["contact_right"])
        held = touch & ~state["contact_table"]
        self.stage_reached["contact"] |= touch
        self.stage_reached["pickup"] |= held & (state["object_height"] >= self.cfg.pickup_height_m)
        near = np.linalg.norm(state["object_pos"] - self.goal, axis=1) <= self.cfg.success_distance_m
        state["held"] = held
        return near & held

    def compute_rewards(self, state):
        r = self.cfg.reward
        tips = state["fingertips"]
        left = (self.active_side == LEFT).astype(float)
        contact = contact_sticker_reward(
            self.stickers_world(LEFT), tips[:, LEFT], self.stickers_world(RIGHT), tips[:, RIGHT],
            r.contact_alpha, r.contact_beta, left, 1.0 - left,
        )
        lift = np.clip(state["object_height"], 0.0, r.lift_cap_m) * state["held"]
        return {
            "contact": r.contact_weight * contact,
            "goal": object_goal_reward(state["object_pos"], self.goal, r.goal_weight, self.goal_distance0),
            "lift": r.lift_weight * lift,
            "hold": r.hold_weight * state["held"],
            "goal_track": goal_tracking_reward(state["object_pos"], self.goal, state["held"], r.goal_track_weight, r.goal_track_width_m),
            "success": r.success_bonus * state["success_now"],
        }

    def task_critic_features(self):
        return np.eye(2)[self.active_side]

    def episode_record_extras(self, i):
        return {"side": "left" if self.active_side[i] == LEFT else "right"}
