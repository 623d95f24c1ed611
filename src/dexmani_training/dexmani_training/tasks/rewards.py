"""Reward terms, batched over environments (numpy, first axis = environment).

The contact-sticker term follows the paper exactly:

    r_contact = Σ_i [ 1 / (1 + α·d(X^L, F^L_i)) + 1 / (1 + β·d(X^R, F^R_i)) ],
    d(A, x) = min_j ||A_j − x||₂,

with X^L, X^R the sticker points on the object for the left and right hand and F^L, F^R the
four fingertips (thumb, index, middle, ring) of each hand. Each hand contributes at most 4
(all fingertips on stickers) and tends to 0 far away. A hand whose term is switched off (the
inactive hand in grasp-and-reach, the hand of the other stage in handover) gets weight 0.

The object-goal term penalizes the object's distance to its goal, ``−w·(||p − g|| − d₀)``, with
d₀ the distance when the episode (or handover stage) began, so the reward grows as the object
approaches the goal and is zero where it started. The handover stage bonus is paid once when a
stage is first reached and grows with the stage: ``bonus_scale · k`` for stage ``k = 1, 2, ...``.
"""

from __future__ import annotations

import numpy as np


def quat_rotate(quat_wxyz: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Rotate vectors (N×S×3) by quaternions (N×4, w first)."""
    w = quat_wxyz[:, None, 0:1]
    u = quat_wxyz[:, None, 1:4]
    t = 2.0 * np.cross(u, vec)
    return vec + w * t + np.cross(u, t)


def stickers_world(object_pose: np.ndarray, stickers_local: np.ndarray) -> np.ndarray:
    """Sticker points in the world frame (N×S×3) from the object pose (N×7: pos, quat wxyz)."""
    return object_pose[:, None, :3] + quat_rotate(object_pose[:, 3:7], stickers_local)


def nearest_sticker_distance(stickers: np.ndarray, fingertips: np.ndarray) -> np.ndarray:
    """d(X, F_i) = min_j ||X_j − F_i|| for each fingertip: (N×S×3, N×F×3) → N×F."""
    diff = fingertips[:, :, None, :] - stickers[:, None, :, :]
    return np.sqrt(np.einsum("nfsk,nfsk->nfs", diff, diff)).min(axis=2)


def contact_sticker_reward(
    stickers_left: np.ndarray,
    fingertips_left: np.ndarray,
    stickers_right: np.ndarray,
    fingertips_right: np.ndarray,
    alpha: float,
    beta: float,
    weight_left: np.ndarray | float = 1.0,
    weight_right: np.ndarray | float = 1.0,
) -> np.ndarray:
    """The paper's r_contact (N,), each hand's sum weighted (0 switches a hand off)."""
    left = hand_contact_reward(stickers_left, fingertips_left, alpha)
    right = hand_contact_reward(stickers_right, fingertips_right, beta)
    return np.asarray(weight_left) * left + np.asarray(weight_right) * right


def hand_contact_reward(stickers: np.ndarray, fingertips: np.ndarray, scale: float) -> np.ndarray:
    """One hand's part of r_contact (N,): Σ_i 1 / (1 + scale·d(X, F_i)), at most 4."""
    return (1.0 / (1.0 + scale * nearest_sticker_distance(stickers, fingertips))).sum(axis=1)


def object_goal_reward(object_pos: np.ndarray, goal_pos: np.ndarray, weight: float,
                       reference_distance_m: np.ndarray | float = 0.0) -> np.ndarray:
    """−weight · (distance of the object to its goal − reference) (N,).

    With the distance at the start of the episode (or of the stage) as the reference the term is
    0 where the object started, negative when it moves away and positive as it approaches. A
    plain −weight·distance makes every step cost something, and then ending the episode early
    (knocking the object off the table) pays — the policy learns to do exactly that."""
    return -weight * (np.linalg.norm(object_pos - goal_pos, axis=1) - reference_distance_m)


def goal_tracking_reward(object_pos: np.ndarray, goal_pos: np.ndarray, held: np.ndarray, weight: float,
                         width_m: float) -> np.ndarray:
    """``weight · held · (1 − tanh(‖p − g‖ / width))`` (N,): a bounded, sharp pull toward the goal
    that pays only while the object is held. The linear goal term alone gives 0.3 per second for
    a centimetre, which is lost in the noise of the return; this term makes the last 5–10 cm
    worth several times more and cannot be collected by pushing the object along the table."""
    d = np.linalg.norm(object_pos - goal_pos, axis=1)
    return weight * np.asarray(held, dtype=float) * (1.0 - np.tanh(d / width_m))


def stage_bonus(new_stage: np.ndarray, old_stage: np.ndarray, bonus_scale: float) -> np.ndarray:
    """Σ bonus_scale·k over the stages k newly reached this step (stages are counted from 1)."""
    new_stage = np.asarray(new_stage)
    old_stage = np.asarray(old_stage)
    # Sum of k for k in (old, new]: an arithmetic series.
    gained = np.where(new_stage > old_stage, (new_stage * (new_stage + 1) - old_stage * (old_stage + 1)) / 2, 0)
    return bonus_scale * gained


def action_rate_penalty(action: np.ndarray, last_action: np.ndarray, weight: float) -> np.ndarray:
    """−weight · ||a_t − a_{t−1}||²: a regularizer against jerky commands (not in the paper)."""
    return -weight * np.sum((action - last_action) ** 2, axis=1)
