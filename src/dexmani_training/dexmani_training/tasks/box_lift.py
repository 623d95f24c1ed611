"""Box lift: both hands lift a box too big for one hand.

The box (the ``box_lift`` group: three sizes, 0.2–1.0 kg) is placed in front of the robot with
its long side across; its size (×0.95–1.05 and the choice of box), mass, position and yaw are
randomized. The left hand's stickers are on the box's left (+y) face, the right hand's on its
right (−y) face (``bottom_edges`` puts them under the box instead).

Reward (per second): contact (both hands, the paper's term with α for the left and β for the
right hand), goal (−w·||box − goal||), lift (while both hands touch the box and the table does
not), a success bonus while the success condition holds, and a small action-rate penalty.

Stages:
  contact — both hands touch the box;
  pickup  — the box is ≥ 5 cm above its resting height, touched by both hands, off the table;
  success — the box is within 5 cm of the goal (lifted 12–18 cm) and held by both hands, for
            5 consecutive control steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .base import LEFT, RIGHT, ManipulationEnv, TaskConfig
from .randomization import RandomizationConfig
from .rewards import contact_sticker_reward, goal_tracking_reward, object_goal_reward


def _box_randomization() -> RandomizationConfig:
    # A two-handed lift of a box turned by 0.75 rad is a different task; keep the box roughly
    # square to the robot (the other Table-4 rows as in the paper).
    return RandomizationConfig(object_yaw_rad=(-0.3, 0.3))


@dataclass
class BoxLiftConfig(TaskConfig):
    task: str = "box_lift"
    scene: str = "box_lift"
    objects: str = "box_lift"
    episode_length_s: float = 4.0
    object_x_m: tuple[float, float] = (0.36, 0.40)
    object_y_m: tuple[float, float] = (-0.03, 0.03)
    goal_height_m: tuple[float, float] = (0.12, 0.18)
    goal_offset_xy_m: float = 0.03
    sticker_pattern_left: str = "left_side"
    sticker_pattern_right: str = "right_side"
    randomization: RandomizationConfig = field(default_factory=_box_randomization)


class BoxLift(ManipulationEnv):
    cfg: BoxLiftConfig
    stage_names = ("contact", "pickup", "success")

    def sticker_patterns_for(self):
        return (self.cfg.sticker_pattern_left, self.cfg.sticker_pattern_right)

    def sample_nominal_object(self, ids):
        k = ids.size
        xy = np.stack([self.rng.uniform(*self.cfg.object_x_m, k), self.rng.uniform(*self.cfg.object_y_m, k)], axis=1)
        return xy, np.zeros(k)

    def sample_goals(self, ids):
        k = ids.size
        pos = self.sim.object_pose()[ids, :3]
        g = pos.copy()
        g[:, :2] += self.rng.uniform(-self.cfg.goal_offset_xy_m, self.cfg.goal_offset_xy_m, (k, 2))
        g[:, 2] = self.object_rest_z[ids] + self.rng.uniform(*self.cfg.goal_height_m, k)
        return g

    def update_stages(self, state):
        both = state["contact_left"] & state["contact_right"]
        held = both & ~state["contact_table"]
        state["held"] = held
        self.stage_reached["contact"] |= both
        self.stage_reached["pickup"] |= held & (state["object_height"] >= self.cfg.pickup_height_m)
        near = np.linalg.norm(state["object_pos"] - self.goal, axis=1) <= self.cfg.success_distance_m
        return near & held

    def compute_rewards(self, state):
        r = self.cfg.reward
        tips = state["fingertips"]
        contact = contact_sticker_reward(self.stickers_world(LEFT), tips[:, LEFT], self.stickers_world(RIGHT), tips[:, RIGHT],
                                         r.contact_alpha, r.contact_beta)
        lift = np.clip(state["object_height"], 0.0, r.lift_cap_m) * state["held"]
        return {
            "contact": r.contact_weight * contact,
            "goal": object_goal_reward(state["object_pos"], self.goal, r.goal_weight, self.goal_distance0),
            "goal_track": goal_tracking_reward(state["object_pos"], self.goal, state["held"], r.goal_track_weight, r.goal_track_width_m),
            "lift": r.lift_weight * lift,
            "hold": r.hold_weight * state["held"],
            "success": r.success_bonus * state["success_now"],
        }
