"""Bimanual handover: hand A grasps the object on its side of the table and hands it to hand
B, which cannot reach it where it starts; both directions (``right_to_left``: A is the right
hand; ``left_to_right``: A is the left hand), drawn per episode.

Four stages, in order (a stage counts only after the previous one):
  1 contact_a     — hand A touches the object;
  2 intermediate  — the object is within 5 cm of the intermediate goal (near the midline,
                    lifted) while hand A holds it (touching it, the object off the table) and,
                    with ``intermediate_min_contact_a`` > 0, A's contact term is at least that
                    (A holds the object where its stickers are);
  3 contact_b     — hand B touches the object and, with ``contact_b_min_contact_b`` > 0, B's
                    contact term is at least that (B holds it where its stickers are);
  4 success       — the object is within 5 cm of the final goal on B's side, touched by hand B
                    and off the table, for 5 consecutive control steps.

Success does not ask hand A to have let go. Evaluation also reports ``released_rate``: the
episodes in which the success condition held for 5 consecutive steps with A not touching the
object (a handover in the strict sense). Each episode record also says where the episode
stopped (``episode_metrics``): the seconds the object was off the table held by A alone
(``held_a_only_s``), by both hands (``held_both_s``) and by B alone (``held_b_only_s``), and its
closest approach to the final goal (``closest_final_m``) and where the object was then,
relative to the goal: ``closest_final_short_m`` (along y, how far short of the goal on the
midline's side; negative: past it), ``closest_final_dx_m`` (+ away from the robot) and
``closest_final_dz_m`` (+ above); and of the seconds held by both hands, those with hand A's
contact term at least 1.5 (``held_both_a_on_stickers_s``: A holds its own part, e.g. its end
of the bar) and those with B's at least 1.5 (``held_both_b_on_stickers_s``); training logs their
means over nominal episodes, evaluation their means and medians.

The stage variable a ∈ {0, 1} (a = 1 from stage 2 on) switches the active terms, as in the
paper: r = (1−a)·(r_contact(A) + r_goal(intermediate)) + a·(r_contact(B) + r_goal(final)),
plus a bonus paid once when stage k is first reached, ``stage_bonus_scale · k``, a lift
shaping term while A holds the object in stage a = 0, ``hold`` and ``goal_track`` paid while
the *active* hand (A while a = 0, B while a = 1) holds the object, and the small action-rate
penalty. With the hard switch, holding by hand A pays nothing once a = 1, so carrying the
object on to the final goal with A is not a handover the reward prefers; the continuous handoff
(the default, below) pays ``lift`` and ``hold`` for either hand but ``goal_track`` only for B, and
success needs B's touch at a final goal A cannot reach.
Hand A's stickers are on the object's sides, hand B's on its top and bottom (B takes the
object over A's fingers). With the bar (``bar_5x18x5cm``, ``config/handover_bar.yaml``), A's are
on the end on its side (``right_end``) and B's on the other end (``left_end``); patterns are
named for right-to-left episodes and mirrored in left-to-right ones. ``release_a_weight`` (off by
default) pays, from stage 3, while B holds the object and A no longer touches it;
``let_go_weight`` (off by default) pays the same stretch of the episode in proportion to how far
A's fingertips are from A's stickers.

How the reward hands over from A's phase to B's (``stage_handoff``):

- ``switch`` — the paper's hard switch above: at stage 2 every A-phase term stops. Finishing
  stage 2 then cuts the per-step income (about 18 per second with the object held 5 cm from the
  intermediate goal: contact, lift, hold, goal progress, goal tracking) for a one-time bonus of
  10, and a run started from the grasp specialist learned to hover the cylinder 6.6–10 cm from
  the intermediate goal (59 of 64 evaluation episodes at 1.5 M steps) and never to finish it.
- ``floor`` — as ``switch``, plus, from stage 2 on, A's phase paid every step at the most it
  could pay (term ``stage_floor``, about 28 per second). Moving on never pays less, but the
  library's episodes (which often start at the intermediate goal) then carry a large return that
  swamps the nominal ones: three runs lost the grasp specialist's lift from nominal resets
  (nominal intermediate 0–0.02 at 0.8 M steps, against 0.1–0.36 with ``switch``).
- ``continuous`` (default) — nothing the policy has earned disappears at a stage boundary.
  From stage 2 on, what A earned is kept as constants (term ``stage_carry``): its contact term
  and its goal progress towards the intermediate goal (30 × (d₀ − d)), both at their values at
  the switch; ``lift`` and ``hold`` pay while the object is held up by either hand; hand B's
  contact term, the final goal's progress and tracking (while B holds) start. Hand B's first
  touch (stage 3) changes no term, so touching never costs anything, and A may let go without
  losing income as long as the object stays up. Only the intermediate goal's tracking term
  ends at stage 2. An earlier version paid A's contact term until B touched and ``lift`` /
  ``hold`` only for B from then on: that moved the trap to B's first touch, and two runs learned
  to keep B away (from nominal resets, training-episode contact-B rate 0–0.22, mostly below
  0.06, while the intermediate rate rose to 0.5–0.67, 1.3 M steps).

``final_goal_needs_b`` (default on): from stage 2, progress towards the final goal pays only
while hand B touches the object; without B, moving it away still costs (the term is capped at
0), so B's touch never costs anything. Without it, hand A turned out to reach the final goal by
itself: started from library states after B's touch, a policy trained without the gate brought
the cylinder to a median 4.7 cm of the final goal held by A alone (on average 64 control steps
held by A only, 0.06 by B only) and dropped it whenever A was forced open.

Resets from the init library: a state recorded from a rollout keeps its hand A (the library's
``lead_hand``) and resumes at the stage its episode had reached (``stage``; success must be
earned again), with the final goal as goal from stage 2 on. Without these, a state from after
B's touch (the object past the midline) came back with A and B swapped and at stage 0, i.e.
as a task to carry the object back to A's side.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..symmetry import mirror_points
from .base import LEFT, RIGHT, ManipulationEnv, TaskConfig, hand_open_closed, side_joint_indices, side_mask
from .rewards import goal_tracking_reward, hand_contact_reward, object_goal_reward, quat_rotate, stage_bonus

DIRECTIONS = ("right_to_left", "left_to_right")
HANDOFFS = ("switch", "floor", "continuous")
ASSIST_TRIGGERS = ("both_hands", "stage_2", "b_holds")
ASSIST_RESETS = ("all", "library", "nominal")


def _contact_share(term: np.ndarray, threshold: float) -> np.ndarray:
    """A hand's contact term (N, 0–4) as a share of ``threshold`` (> 0), capped at 1: what the
    hold gates and the grip-weighted ``hold_b`` pay for a grip short of the threshold."""
    return np.minimum(term / threshold, 1.0)


@dataclass
class HandoverConfig(TaskConfig):
    task: str = "handover"
    scene: str = "handover"
    objects: str = "cylinder_r3_h10cm"
    episode_length_s: float = 8.0
    directions: tuple[str, ...] = DIRECTIONS
    object_x_m: tuple[float, float] = (0.30, 0.36)
    object_abs_y_m: tuple[float, float] = (0.24, 0.30)  # on hand A's side
    intermediate_abs_y_m: float = 0.06  # on A's side of the midline
    intermediate_height_m: float = 0.15
    # On B's side, the mirror image of where the object starts on A's: by the robot's left-right
    # symmetry A reaches it no better than B reaches the start. (At 0.20, a policy learned to
    # carry the object there with hand A alone after a brief touch of B.)
    final_abs_y_m: float = 0.27
    final_height_m: float = 0.12
    # Final-goal curriculum (training only; evaluation uses final_abs_y_m): where the final goal
    # starts, as y on hand B's side (0: the midline; negative: on A's side). The trainer moves it
    # out to final_abs_y_m as nominal training episodes succeed (TrainConfig.task_curriculum).
    # None (default): no curriculum. Why: with the bar, policies that held it with both hands
    # brought it to a median 21 cm of the final goal (about 7 cm past the midline) and never
    # further, so no episode ever succeeded and the success bonus never paid.
    final_goal_curriculum_start_y_m: float | None = None
    sticker_pattern_a: str = "all_side_centres"
    sticker_pattern_b: str = "top_bottom_centres"
    mirror_symmetry: bool = True  # left-to-right episodes are seen as mirrored right-to-left ones
    actor_fingertips: bool = True  # as for grasp_and_reach, whose grasp hand A repeats
    stage_handoff: str = "continuous"  # switch | floor | continuous (see the module docstring)
    # From stage 2 on, progress towards the final goal pays only while hand B touches the object
    # (see the module docstring: without it, hand A carried the object to the final goal alone).
    final_goal_needs_b: bool = True
    # Hand B's contact term is multiplied by this (from stage 2 on): B's approach has to outweigh
    # the risk of knocking the object out of A's hand.
    contact_b_weight: float = 1.0
    # Per second from stage 2 on while hand B touches the object and the object is off the table
    # (A may still hold it): term ``hold_b``, on top of ``hold`` (which either hand earns).
    hold_b_weight: float = 0.0
    # With ``hold_b_weight``: ``hold_b`` pays the share min(B's contact term / this, 1) of its
    # weight, so B's touch pays in full only on B's own stickers and a shallow prop pays a
    # fraction. 0 (default): any touch by B pays in full. Why: paid for any touch (``bg5_5``,
    # ``bg5_10``), B propped the bar from below (contact term about 1, on its stickers for
    # 0–0.03 s of a 6–8 s two-hand hold) and no scripted release followed from those holds.
    hold_b_min_contact_b: float = 0.0
    # Per second from stage 3 on while hand B touches the object, hand A does not, and the object
    # is off the table (term ``release_a``): pays for the handover in the strict sense, A letting
    # go once B has it. Success itself does not ask for it (see ``released_rate``).
    release_a_weight: float = 0.0
    # Per second from stage 3 on while hand B holds the object up, times how far hand A's
    # fingertips are from A's stickers (1 − A's contact term / 4: 0 with all four on them, 1 far
    # away), term ``let_go``: a graded version of ``release_a`` that pays for A opening and
    # drawing back a little at a time, as long as B keeps the object up.
    let_go_weight: float = 0.0
    # Per second while the object is held up, times how level its long axis is (1 − |its world z
    # component|: 1 level, 0 upright), term ``level``: an elongated object (the bar) held by one
    # end hangs down, and hand B's end is then out of the reach its grasp was made for. Needs
    # objects with a long axis (``ObjectSpec.long_axis``).
    level_weight: float = 0.0
    # Per second while the object is held up, times how far the object points from A's stickers
    # towards B's along the table's y, towards B's side (the y of the unit vector from the centre
    # of A's stickers to that of B's, signed so that + is B's side; 1: B's part faces B, 0 or
    # below: across the table or turned end for end, which pays nothing), term ``aim``. The hold
    # gates (``hold_min_contact_a``/``_b``) apply as to ``level``. Needs objects whose two sticker
    # patterns lie apart (e.g. the bar's two ends). Why: in the two-hand holds of ``bg1b``, ``bg5_5``,
    # ``bg5_10`` and ``cg1`` each hand held its own end, but the bar lay across the table or
    # pointed back at A (``axis_to_b_y`` median 0.06 to −0.40; scripted handoffs 0.80), and a
    # scripted release succeeded from 0–14% of those holds against 95% of the scripted ones.
    aim_weight: float = 0.0
    # Term ``squeeze_b`` (off by default): per second from stage 2 while B holds the object up
    # (``held_active``), the mean over B's finger joints of how far each one's target is closed
    # past the joint (in rad, along its closing direction; under the joints' PD control, the
    # force it presses with) over ``squeeze_b_rad``, each floored at 0 and capped at 1, times
    # ``hold_b``'s share (with ``hold_b_min_contact_b``, B's grip on its own stickers). A finger
    # that closes freely reaches its target, so only fingers stopped by the object (or another
    # finger) earn it, and one stalled joint earns at most its share: with the cap on the mean
    # instead (``cg12``), B's thumb-yaw target went to its closing limit while the joint stayed
    # open (1.7 rad past it: a mean of 0.28 rad over six joints, nearly all of the term by
    # itself) and the bar still fell as A let go.
    # Why: in ``cg6``'s two-hand holds A's finger targets sat 0.42 rad past its fingers and B's
    # 0.00 (median over the hold; B's four fingers curled to their closing limits, its thumb
    # open: ``benchmarks/handover_grip_squeeze.py``). B's fingers rested on the bar without
    # force, and with A let go once B held on its stickers (``dexmani eval
    # --assist-release-after 0.5–3 --assist-release-trigger b_holds
    # --assist-release-min-contact-b 1.5 --assist-hold-a``) the bar fell at once (B alone
    # 0.04–0.05 s per episode). From library states, whose finger targets start
    # ``init.grip_rad`` = 0.3 rad closed past the fingers, B carried it alone in up to 55%.
    squeeze_b_weight: float = 0.0
    squeeze_b_rad: float = 0.3
    # Term ``wrap_b`` (off by default): per second from stage 2 while the object is off the table,
    # how far hand B's fingertips go around the object's long axis on B's half of it
    # (``Handover.wrap_b``: the arc around the axis spanned by B's fingertips within
    # ``wrap_b_radius_m`` of it, over 180°, capped at 1). It does not ask B to touch the object,
    # so B may open and re-place its hand without losing it; the hold terms pay for the touch.
    # Needs objects with a long axis. Why: ``squeeze_b`` paid for force, and B's holds stayed a
    # hook: in ``cg6``'s two-hand holds ``wrap_b`` is a median 0.18 (B's fingertips within an arc
    # of 32°, the thumb away), and where B carried the bar alone from the release library's
    # states, 0.84–0.86 (155°: thumb and fingers on opposite sides;
    # ``benchmarks/handover_grip_squeeze.py``). Paid at 10 and 30 (``cg15``, ``cg16``), it rose
    # to 0.21 and 0.26 in the holds and B still did not carry the bar alone.
    wrap_b_weight: float = 0.0
    wrap_b_radius_m: float = 0.06
    # Stage 2 (intermediate) also needs hand A's contact term (0–4) at least this high: A holds the
    # object where its stickers are, e.g. by its own end of the bar, which leaves B's end free.
    # 0 (default): any hold counts. Measured on the bar: scripted end grasps have 2.0–2.7 (10th–90th
    # percentile), a policy that held the bar's middle 0.7–1.3, and B could not take that bar.
    intermediate_min_contact_a: float = 0.0
    # Stage 3 (contact_b) also needs hand B's contact term (0–4) at least this high: a touch
    # counts only on B's own stickers, so the stage bonus and the terms that start at stage 3
    # (``release_a``, ``let_go``) pay for a grasp, not a brush. 0 (default): any touch counts.
    # Measured on the bar: B in the scripted handoffs has 2.2–2.6 (10th–90th percentile); a policy
    # trained with ``intermediate_min_contact_a: 1.8`` touched the bar with 0.65–1.1, mostly at
    # its far end (fingertip centre 11–22 cm from the centre along the bar, the end at 9 cm), and
    # all 177 scripted releases from those holds failed (the bar fell as A opened).
    contact_b_min_contact_b: float = 0.0
    # From stage 2 on (``hold_min_contact_a_from_stage``), ``lift``, ``hold`` and ``level`` pay
    # only while hand A does not touch the object or A's contact term (0–4) is at least this: A
    # keeps to its own end, or lets go.
    # 0 (default): any hold pays. Why: in the two-hand holds of the best carries (``fd6``,
    # ``hi9``), A's fingertips sat on B's half of the bar (their centre 6 cm past the bar's
    # centre, A's contact term 0.56–0.98), B touched the middle or A's end, and a scripted release
    # (B closes, A opens) succeeded from 0 of 200 of ``fd6``'s holds and 8 of 183 of ``hi9``'s;
    # from the scripted handoffs' holds (A's term 1.96–2.66, B's 2.17–2.64) 71 of 75
    # (``benchmarks/handover_holds.py``). With A on B's end, the bar cannot go
    # further than A's reach across the body, and B has no end left to take.
    hold_min_contact_a: float = 0.0
    # With ``hold_min_contact_a``: below the threshold the three terms pay the fraction
    # A's contact term / ``hold_min_contact_a`` instead of nothing, so each centimetre A's
    # fingertips move towards its own stickers pays (the binary gate gives no signal until A is
    # there, and runs from holds with A on B's end never found the way: ``ae2``).
    hold_min_contact_a_graded: bool = False
    # The stage from which ``hold_min_contact_a`` applies (0–2; before it, any hold by A pays).
    # From 2 (default), only the carry after the intermediate goal; from 0, A's own phase too,
    # where the grasp is made: with the gate from stage 2 and ``intermediate_min_contact_a``,
    # a run held the bar at the intermediate goal off A's end and never finished stage 2
    # (``ae4``: stage 1 paid as much as ``fd6``'s whole episodes).
    hold_min_contact_a_from_stage: int = 2
    # The same gate for hand B (from stage 2, where B's part starts): ``lift``, ``hold`` and
    # ``level`` pay only while B does not touch the object or B's contact term (0–4) is at least
    # this; with ``hold_min_contact_b_graded``, the share B's term / this below it. Both gates
    # multiply. 0 (default): any touch by B leaves them as they are. Why: trained with A's graded
    # gate from stage 0 (``ag1``), A held its own end in 88% of the two-hand hold, but B's
    # fingertips sat beyond A's end (their centre 12 cm from the bar's centre, towards A's end;
    # B's contact term 0.40–0.52) and a scripted release from those holds succeeded once in 196.
    # Measured with it (docs/handover.md, "gating B's hold too"): both hands came to hold their own ends,
    # but an off-sticker touch by B now costs income, so B touched briefly and A carried alone.
    hold_min_contact_b: float = 0.0
    hold_min_contact_b_graded: bool = False
    # Training aid, off by default and always off in evaluation and policy rollouts: in this share
    # of training episodes (drawn at reset), ``assist_release_after_s`` after the trigger (below),
    # the env opens hand A's fingers and draws A's arm back to its default pose (their targets
    # move there as fast as an action can move them; the policy's actions for A's arm and fingers
    # are ignored) for the rest of the episode. Episode records say ``assisted``; training's
    # nominal rates and the task curriculum leave those episodes out. Why: no policy ever let go
    # with A, and with A let go for it after 0.5 s of a two-hand hold (``dexmani eval
    # --assist-release-after 0.5``), B did not hold the bar either (``ho21`` at difficulty 0.5: B
    # alone 0.05 s per episode, then the bar fell). B never had to carry the object by itself.
    # A's arm draws back as well: with only its fingers opened, A's open hand went on carrying
    # the bar from below (``ho21`` at difficulty 0.1: success 0.57, B alone 0.08 s per episode).
    assist_release_probability: float = 0.0
    assist_release_after_s: float = 0.5
    # What starts the assist's clock: ``both_hands`` — both hands holding the object up, without a
    # break (a policy can avoid it by keeping B away); ``stage_2`` — the intermediate goal reached
    # (A holds the object at the midline), whatever B does: A then opens after
    # ``assist_release_after_s`` and the object stays up only if B holds it by then; ``b_holds`` —
    # hand B holding the object up at stage 3 (with ``contact_b_min_contact_b``, on its own
    # stickers), without a break: A lets go only from a grasp of B's that the stage counts, so
    # the assisted episodes start where B's part of the handover really begins.
    assist_release_trigger: str = "both_hands"
    # With ``b_holds``: the clock counts only steps with B's contact term at least this (B gripping
    # its own stickers, e.g. its end of the bar); a step below breaks the hold. 0 (default): any
    # touch by B. Why: in a policy's own two-hand holds B is off its own end for part of the hold
    # (``cg6``: held by both 6.7 s per episode, B's contact term at least 1.5 for 4.4 s of it),
    # and A let go at any touch by B drops the bar; from scripted releases out of B's own-end
    # grips, B carried the bar on alone in up to 55% (docs/handover.md: "scripted releases as a drill").
    assist_release_min_contact_b: float = 0.0
    # With the assist: from its trigger until A lets go, hand A's arm and finger targets also
    # hold still (the policy's actions for A are ignored), so hand B takes the object from a
    # steady hand and A can neither carry it away nor keep B off it. With the ``stage_2`` trigger,
    # init-library states at stage 2 (``init.stages: [2]``) and ``init.probability: 1`` every
    # episode is a drill of hand B's part alone: grasp the object A holds at the midline and keep
    # it up once A has let go (``config/handover_bar_b_drill.yaml``).
    assist_hold_a: bool = False
    # Which resets the assist is drawn for: ``all`` (default), ``library`` (init-library resets
    # only: drills of B's part, from library states, alongside nominal episodes of the whole
    # handover, which the policy still has to finish by itself) or ``nominal``.
    assist_release_resets: str = "all"
    # With the assist: training stores the actions the env executed for hand A (0 while A is
    # held still, or the policy's own push into a joint limit the target sits at; the step
    # towards open and the default pose while A lets go) in place of the policy's sampled ones,
    # with their log-probability under the policy, so PPO credits A's hold and release to the
    # policy's own outputs for A (see TrainConfig.executed_action_max_std and
    # executed_actions_kept). Without it, the policy's ignored actions for A were stored, and the
    # return that followed the release taught A nothing: no policy trained with the assist let
    # go by itself (``released`` at most 0.008). With it, none did either (docs/handover.md: "A's release
    # learned from the assist").
    assist_as_actions: bool = False

    def without_training_aids(self) -> "HandoverConfig":
        return replace(self, assist_release_probability=0.0, assist_hold_a=False, assist_as_actions=False)

    def validate(self) -> None:
        super().validate()
        if self.stage_handoff not in HANDOFFS:
            raise ValueError(f"stage_handoff must be one of {list(HANDOFFS)}, got {self.stage_handoff!r}")
        for name in ("contact_b_weight", "hold_b_weight", "release_a_weight", "let_go_weight", "level_weight", "aim_weight",
                     "intermediate_min_contact_a", "contact_b_min_contact_b", "hold_min_contact_a",
                     "hold_min_contact_b", "hold_b_min_contact_b", "assist_release_min_contact_b", "squeeze_b_weight",
                     "wrap_b_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.assist_release_probability <= 1.0:
            raise ValueError(f"assist_release_probability must be in [0, 1], got {self.assist_release_probability}")
        if self.assist_release_trigger not in ASSIST_TRIGGERS:
            raise ValueError(f"assist_release_trigger must be one of {list(ASSIST_TRIGGERS)}, "
                             f"got {self.assist_release_trigger!r}")
        if self.assist_release_resets not in ASSIST_RESETS:
            raise ValueError(f"assist_release_resets must be one of {list(ASSIST_RESETS)}, "
                             f"got {self.assist_release_resets!r}")
        if self.assist_hold_a and self.assist_release_probability == 0:
            raise ValueError("assist_hold_a holds hand A still until the assisted release: it needs "
                             "assist_release_probability > 0")
        if self.assist_as_actions and self.assist_release_probability == 0:
            raise ValueError("assist_as_actions stores the assist's actions for hand A: it needs "
                             "assist_release_probability > 0")
        if self.hold_min_contact_a_from_stage not in (0, 1, 2):
            raise ValueError(f"hold_min_contact_a_from_stage must be 0, 1 or 2, got {self.hold_min_contact_a_from_stage}")
        if self.wrap_b_radius_m <= 0:
            raise ValueError(f"wrap_b_radius_m must be > 0, got {self.wrap_b_radius_m}")
        if self.squeeze_b_rad <= 0:
            raise ValueError(f"squeeze_b_rad must be > 0, got {self.squeeze_b_rad}")
        if self.assist_release_min_contact_b > 0 and self.assist_release_trigger != "b_holds":
            raise ValueError("assist_release_min_contact_b gates the b_holds trigger's clock: it needs "
                             f"assist_release_trigger: b_holds, got {self.assist_release_trigger!r}")
        if self.assist_release_after_s < 0:
            raise ValueError(f"assist_release_after_s must be >= 0, got {self.assist_release_after_s}")
        start = self.final_goal_curriculum_start_y_m
        if start is not None and not -self.intermediate_abs_y_m <= start < self.final_abs_y_m:
            raise ValueError(f"final_goal_curriculum_start_y_m must be in [-intermediate_abs_y_m, final_abs_y_m) = "
                             f"[{-self.intermediate_abs_y_m}, {self.final_abs_y_m}), got {start}")
        bad = [d for d in self.directions if d not in DIRECTIONS]
        if bad or not self.directions:
            raise ValueError(f"directions must be a non-empty subset of {list(DIRECTIONS)}, got {list(self.directions)}")


class Handover(ManipulationEnv):
    cfg: HandoverConfig
    stage_names = ("contact_a", "intermediate", "contact_b", "success")
    # Where an episode stops, beyond its stages: seconds the object spent off the table held by
    # A alone, by both hands, by B alone, and its closest approach to the final goal (metres).
    # Why the offsets: a carry that stops 14 cm from the goal may be short along y (the hands'
    # reach across the body) or off in x or z, and each asks for a different fix.
    # And of the two-hand hold, how much of it had each hand on its own stickers: the best carries
    # held the bar with A on B's end (A's contact term 0.56–0.98), from where a scripted release
    # rarely succeeds (``benchmarks/handover_holds.py``).
    episode_metrics = ("held_a_only_s", "held_both_s", "held_b_only_s", "closest_final_m",
                       "closest_final_short_m", "closest_final_dx_m", "closest_final_dz_m",
                       "held_both_a_on_stickers_s", "held_both_b_on_stickers_s")
    # A hand's contact term (0–4) from which it counts as holding its own stickers: scripted end
    # grasps of the bar score 1.6–2.7 (10th–90th percentile), policies' crossed holds 0.4–1.0.
    on_stickers_min_contact = 1.5
    num_task_critic_features = 2 + 5

    def __init__(self, *args, **kwargs):
        self.hand_a = None
        super().__init__(*args, **kwargs)
        axes = [o.long_axis() for o in self.env_object]
        for name in ("level_weight", "wrap_b_weight"):
            if getattr(self.cfg, name) > 0 and any(a is None for a in axes):
                bad = sorted({o.name for o, a in zip(self.env_object, axes) if a is None})
                raise ValueError(f"{name} needs objects with a long axis (a box or cylinder whose longest dimension "
                                 f"is at least 1.5 times the others); these have none: {bad}")
        self.long_axis_local = np.array([a[0] if a is not None else np.zeros(3) for a in axes])  # N×3, object frame
        # Two unit vectors across each long axis (object frame; zero for objects without one), for ``wrap_b``'s angles.
        helper = np.where(np.abs(self.long_axis_local[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        e1 = np.cross(self.long_axis_local, helper)
        e1 /= np.maximum(np.linalg.norm(e1, axis=1, keepdims=True), 1e-9)
        self.across_axis_local = (e1, np.cross(self.long_axis_local, e1))
        if self.cfg.aim_weight > 0:
            apart = np.linalg.norm(self._a_to_b_world(self.sim.object_pose()[:, 3:]), axis=1)
            if apart.min() < 0.01:
                raise ValueError(f"aim_weight needs hand A's and hand B's stickers apart (their centres at least 1 cm apart); "
                                 f"with objects {self.cfg.objects!r} and patterns {self.cfg.sticker_pattern_a!r}/"
                                 f"{self.cfg.sticker_pattern_b!r} they are {apart.min() * 100:.1f} cm apart")

    def has_task_curriculum(self) -> bool:
        return self.cfg.final_goal_curriculum_start_y_m is not None

    def final_y(self, ids: np.ndarray) -> np.ndarray:
        """The final goal's y on hand B's side for episodes ``ids`` at their difficulty
        (``episode_difficulty``; ``final_abs_y_m`` at 1)."""
        start = self.cfg.final_goal_curriculum_start_y_m
        if start is None:
            return np.full(len(ids), self.cfg.final_abs_y_m)
        return start + self.episode_difficulty[ids] * (self.cfg.final_abs_y_m - start)

    def sticker_patterns_for(self):
        # Per-side sets are swapped per episode by direction: index 0 = pattern A, 1 = pattern B.
        return (self.cfg.sticker_pattern_a, self.cfg.sticker_pattern_b)

    def _ensure_state(self):
        if self.hand_a is None:
            n = self.num_envs
            self.hand_a = np.full(n, RIGHT)
            self.stage = np.zeros(n, dtype=int)
            self.intermediate_goal = np.zeros((n, 3))
            self.final_goal = np.zeros((n, 3))
            self.intermediate_distance0 = np.zeros(n)  # the A phase's goal reference, kept for the floor
            self.goal_carry = np.zeros(n)  # the A phase's goal progress at the switch (continuous handoff)
            self.contact_carry = np.zeros(n)  # and hand A's contact term at the switch
            self.release_streak = np.zeros(n, dtype=int)  # steps of success with A's hand off the object
            self.released = np.zeros(n, dtype=bool)
            self.held_steps = np.zeros((n, 3), dtype=int)  # control steps held up by A only, both, B only
            self.both_on_stickers_steps = np.zeros((n, 2), dtype=int)  # ... by both, A's / B's term >= on_stickers_min_contact
            self.closest_final = np.full(n, np.inf)
            self.closest_final_offset = np.zeros((n, 3))  # object − final goal at the closest approach
            self.assist_clock = np.zeros(n, dtype=int)  # steps since the assist's trigger (see assist_release_trigger)
            self.assist_drawn = np.zeros(n, dtype=bool)  # this episode's A lets go when the clock runs out
            self.assist_active = np.zeros(n, dtype=bool)  # ... and now it does
            self.assist_overrides = np.zeros(n, dtype=bool)  # this step's targets for A are the assist's

    def sample_nominal_object(self, ids):
        self._ensure_state()
        k = ids.size
        dirs = self.rng.choice(len(self.cfg.directions), k)
        self.hand_a[ids] = np.array([RIGHT if self.cfg.directions[d] == "right_to_left" else LEFT for d in dirs])
        sign_a = np.where(self.hand_a[ids] == LEFT, 1.0, -1.0)
        x = self.rng.uniform(*self.cfg.object_x_m, k)
        y = sign_a * self.rng.uniform(*self.cfg.object_abs_y_m, k)
        return np.stack([x, y], axis=1), np.zeros(k)

    def sample_goals(self, ids):
        c = self.cfg
        sign_a = np.where(self.hand_a[ids] == LEFT, 1.0, -1.0)
        pos = self.sim.object_pose()[ids, :3]
        rest = self.object_rest_z[ids]
        self.intermediate_goal[ids] = np.stack([pos[:, 0], sign_a * c.intermediate_abs_y_m, rest + c.intermediate_height_m], axis=1)
        self.final_goal[ids] = np.stack([pos[:, 0], -sign_a * self.final_y(ids), rest + c.final_height_m], axis=1)
        return self.intermediate_goal[ids]

    def on_reset(self, ids):
        self.stage[ids] = 0
        self.release_streak[ids] = 0
        self.released[ids] = False
        self.held_steps[ids] = 0
        self.both_on_stickers_steps[ids] = 0
        self.closest_final[ids] = np.inf
        self.closest_final_offset[ids] = 0.0
        self.assist_clock[ids] = 0
        self.assist_active[ids] = False
        if self.cfg.assist_release_probability > 0:  # no draw otherwise: the same random stream
            self.assist_drawn[ids] = self.rng.random(ids.size) < self.cfg.assist_release_probability
            if self.cfg.assist_release_resets != "all":
                self.assist_drawn[ids] &= self.from_library[ids] == (self.cfg.assist_release_resets == "library")
        else:
            self.assist_drawn[ids] = False
        # With a library state, hand A is the state's recorded lead hand; where the library does
        # not know it, the hand on whose side of the table the object is (the task's definition,
        # wrong once the object has been carried across the midline). The nearer palm is
        # ambiguous once both hands touch the object.
        lib = ids[self.from_library[ids]]
        if lib.size:
            side = np.where(self.sim.object_pose()[lib, 1] >= 0.0, LEFT, RIGHT)
            lead = self.library_lead_hand[lib]
            self.hand_a[lib] = np.where(lead >= 0, lead, side)
            sign_a = np.where(self.hand_a[lib] == LEFT, 1.0, -1.0)
            self.intermediate_goal[lib, 1] = sign_a * self.cfg.intermediate_abs_y_m
            self.final_goal[lib, 1] = -sign_a * self.final_y(lib)
            self.goal[lib] = self.intermediate_goal[lib]
            # A state recorded from a handover episode resumes at the stage that episode had
            # reached (success must be earned again): one from after hand B's touch, with the
            # object already past the midline, is not sent back to the intermediate goal.
            recorded = self.library_stage[lib]
            resume = lib[recorded > 0]
            self.stage[resume] = np.minimum(recorded[recorded > 0], len(self.stage_names) - 1)
            for k, name in enumerate(self.stage_names[:-1], start=1):
                self.stage_reached[name][resume] = self.stage[resume] >= k
            past = resume[self.stage[resume] >= 2]
            if past.size:
                # Hand B's part: the final goal. What A earned before the switch was not seen:
                # its contact term is taken as it is now, its goal progress as none.
                self.goal[past] = self.final_goal[past]
                self.intermediate_distance0[past] = 0.0
                self.goal_carry[past] = 0.0
                self.contact_carry[past] = self._contact_terms(self.sim.fingertip_pos())[0][past]

    def _actions_to_targets(self, a: np.ndarray) -> np.ndarray:
        targets = super()._actions_to_targets(a)
        if self.hand_a is None:
            return targets
        self.assist_overrides = self.assist_active.copy()
        if self.cfg.assist_hold_a:  # from the trigger until the release, A's targets stay where they are
            triggered = self.stage >= 2 if self.cfg.assist_release_trigger == "stage_2" else self.assist_clock > 0
            held = np.flatnonzero(self.assist_drawn & triggered & ~self.assist_active)
            self.assist_overrides[held] = True
            for side in (LEFT, RIGHT):
                r = held[self.hand_a[held] == side]
                cells = np.ix_(r, np.concatenate(side_joint_indices(side)))
                targets[cells] = self.targets[cells]
        rows = np.flatnonzero(self.assist_active)
        if rows.size:  # assisted release: A opens and draws back, whatever the policy asks of it
            open_q, _ = hand_open_closed()
            ac = self.cfg.action
            finger_step = ac.hand_action_scale_rad if ac.hand_mode == "relative" else np.inf
            for side in (LEFT, RIGHT):
                r = rows[self.hand_a[rows] == side]
                arm, fingers = side_joint_indices(side)
                for joints, goal, step in ((fingers, open_q[fingers], finger_step),
                                           (arm, self.default_pose[arm], ac.arm_action_scale_rad)):
                    cells = np.ix_(r, joints)
                    prev = self.targets[cells]
                    targets[cells] = prev + np.clip(goal - prev, -step, step)
        return targets

    def overridden_joints(self):
        if not self.cfg.assist_as_actions or self.hand_a is None:
            return None
        rows = np.flatnonzero(self.assist_overrides)  # hand A's arm and fingers there
        return rows, np.stack([side_mask(LEFT), side_mask(RIGHT)])[self.hand_a[rows]]

    def mirrored_envs(self):
        self._ensure_state()
        return self.hand_a == LEFT

    def lead_hand(self):
        self._ensure_state()
        return self.hand_a.copy()

    def _touch(self, state, hand):
        return np.where(hand == LEFT, state["contact_left"], state["contact_right"])

    def update_stages(self, state):
        c = self.cfg
        touch_a = self._touch(state, self.hand_a)
        touch_b = self._touch(state, 1 - self.hand_a)
        off_table = ~state["contact_table"]
        pos = state["object_pos"]
        self._old_stage = self.stage.copy()
        s = self.stage
        s = np.where((s == 0) & touch_a, 1, s)
        at_mid = np.linalg.norm(pos - self.intermediate_goal, axis=1) <= c.success_distance_m
        b_on_stickers = True
        term_b = None
        if c.intermediate_min_contact_a > 0 or c.contact_b_min_contact_b > 0 or c.assist_release_min_contact_b > 0:
            term_a, term_b = state["contact_terms"] = self._contact_terms(state["fingertips"])  # compute_rewards reuses them
            at_mid &= term_a >= c.intermediate_min_contact_a  # held where A's stickers are, leaving B's part free
            b_on_stickers = term_b >= c.contact_b_min_contact_b
        s = np.where((s == 1) & at_mid & touch_a & off_table, 2, s)
        switched = (s >= 2) & (self.stage < 2)  # the goal becomes the final one: new reference distance
        self.intermediate_distance0 = np.where(switched, self.goal_distance0, self.intermediate_distance0)
        progress = -object_goal_reward(pos, self.intermediate_goal, -1.0, self.goal_distance0)  # d0 − d
        self.goal_carry = np.where(switched, progress, self.goal_carry)
        self.goal_distance0 = np.where(switched, np.linalg.norm(pos - self.final_goal, axis=1), self.goal_distance0)
        s = np.where((s == 2) & touch_b & b_on_stickers, 3, s)
        self.stage = s
        for k, name in enumerate(("contact_a", "intermediate", "contact_b"), start=1):
            self.stage_reached[name] |= s >= k
        # From stage 2 on, the goal is the final one.
        self.goal = np.where((s >= 2)[:, None], self.final_goal, self.intermediate_goal)
        state["held_a"] = touch_a & off_table
        # The hand the current stage is about: A until the intermediate goal, then B.
        state["held_active"] = np.where(s >= 2, touch_b, touch_a) & off_table
        state["touch_a"] = touch_a
        state["touch_b"] = touch_b
        # Continuous handoff: held up by A, then (from stage 2) by either hand.
        state["held_up"] = np.where(s < 2, touch_a, touch_a | touch_b) & off_table
        offset = pos - self.final_goal
        final_distance = np.linalg.norm(offset, axis=1)
        closer = final_distance < self.closest_final
        self.closest_final_offset[closer] = offset[closer]
        self.closest_final = np.minimum(self.closest_final, final_distance)
        up = off_table & (touch_a | touch_b)
        held_by = np.where(touch_a & touch_b, 1, np.where(touch_a, 0, 2))  # 0 A only, 1 both, 2 B only
        self.held_steps[np.flatnonzero(up), held_by[up]] += 1
        if c.assist_release_trigger == "both_hands":  # steps of an unbroken two-hand hold
            self.assist_clock = np.where(up & touch_a & touch_b, self.assist_clock + 1, 0)
        elif c.assist_release_trigger == "b_holds":  # steps of an unbroken stage-3 hold by B
            b_holds = (s >= 3) & touch_b & off_table
            if c.assist_release_min_contact_b > 0:  # ... on B's own stickers
                b_holds &= term_b >= c.assist_release_min_contact_b
            self.assist_clock = np.where(b_holds, self.assist_clock + 1, 0)
        else:  # steps since the intermediate goal
            self.assist_clock = np.where(s >= 2, self.assist_clock + 1, 0)
        after = max(1, round(c.assist_release_after_s / self.dt_s))
        self.assist_active |= self.assist_drawn & (self.assist_clock >= after)
        at_final = final_distance <= c.success_distance_m
        success_now = (s >= 3) & at_final & touch_b & off_table
        # Reported, not rewarded: success with hand A no longer touching the object.
        self.release_streak = np.where(success_now & ~touch_a, self.release_streak + 1, 0)
        self.released |= self.release_streak >= c.success_hold_steps
        return success_now

    def compute_rewards(self, state):
        r = self.cfg.reward
        self.stage = np.where(self.stage_reached["success"], 4, self.stage)
        a = (self.stage >= 2).astype(float)
        contact_a, contact_b = state.get("contact_terms") or self._contact_terms(state["fingertips"])
        # The on-stickers part of the two-hand hold is counted here, not with held_steps in
        # update_stages, so that the contact terms are computed once per step.
        both_up = state["touch_a"] & state["touch_b"] & ~state["contact_table"]
        self.both_on_stickers_steps += both_up[:, None] & (np.stack([contact_a, contact_b], axis=1)
                                                           >= self.on_stickers_min_contact)
        contact = (1.0 - a) * contact_a + a * self.cfg.contact_b_weight * contact_b
        mode = self.cfg.stage_handoff
        if mode == "continuous":  # A's contact term at the switch, kept from then on
            switched = (self.stage >= 2) & (self._old_stage < 2)
            self.contact_carry = np.where(switched, contact_a, self.contact_carry)
        held_up = state["held_up"]
        c = self.cfg  # each hand's hold pays (in full) only from its own end, or with that hand off
        for term, touch, min_term, graded, from_stage in (
                (contact_a, state["touch_a"], c.hold_min_contact_a, c.hold_min_contact_a_graded, c.hold_min_contact_a_from_stage),
                (contact_b, state["touch_b"], c.hold_min_contact_b, c.hold_min_contact_b_graded, 2)):
            if min_term > 0:
                share = _contact_share(term, min_term)
                held_up = held_up * np.where((self.stage < from_stage) | ~touch, 1.0, share if graded else share >= 1.0)
        zero = np.zeros(self.num_envs)
        level = self._level(state, held_up) if self.cfg.level_weight > 0 else zero
        aim = self.cfg.aim_weight * held_up * self.aim(state["object_quat"]) if self.cfg.aim_weight > 0 else zero
        if mode != "continuous":
            held_up = state["held_a"] * (1.0 - a)
        lift = np.clip(state["object_height"], 0.0, r.lift_cap_m) * held_up
        hold = held_up if mode == "continuous" else state["held_active"]
        goal = object_goal_reward(state["object_pos"], self.goal, r.goal_weight, self.goal_distance0)
        if self.cfg.final_goal_needs_b:  # without B's touch, moving away still costs; coming closer pays nothing
            goal = np.where((self.stage >= 2) & ~state["touch_b"], np.minimum(goal, 0.0), goal)
        bonus = stage_bonus(self.stage, self._old_stage, r.stage_bonus_scale) / self.dt_s  # paid once; the env multiplies by dt
        return {
            "contact": r.contact_weight * contact,
            "goal": goal,
            "lift": r.lift_weight * lift,
            "hold": r.hold_weight * hold,
            "goal_track": goal_tracking_reward(state["object_pos"], self.goal, state["held_active"], r.goal_track_weight, r.goal_track_width_m),
            "hold_b": self.cfg.hold_b_weight * a * state["held_active"] * self._hold_b_share(contact_b),
            # B holds it up (held_active from stage 2), so A not holding it means A not touching it.
            "release_a": self.cfg.release_a_weight * ((self.stage >= 3) & state["held_active"] & ~state["held_a"]),
            "let_go": self.cfg.let_go_weight * ((self.stage >= 3) & state["held_active"]) * (1.0 - contact_a / 4.0),
            "squeeze_b": (self.cfg.squeeze_b_weight * a * state["held_active"] * self._hold_b_share(contact_b)
                          * np.clip(self.finger_squeeze(1 - self.hand_a, per_joint=True) / self.cfg.squeeze_b_rad,
                                    0.0, 1.0).mean(axis=1)
                          if self.cfg.squeeze_b_weight > 0 else zero),
            "wrap_b": (self.cfg.wrap_b_weight * a * ~state["contact_table"] * self.wrap_b(state["fingertips"])
                       if self.cfg.wrap_b_weight > 0 else zero),
            "level": level,
            "aim": aim,
            "stage_bonus": bonus,
            "stage_floor": a * self.phase_a_maximum() if mode == "floor" else zero,
            "stage_carry": a * (r.goal_weight * self.goal_carry + r.contact_weight * self.contact_carry) if mode == "continuous" else zero,
            "success": r.success_bonus * state["success_now"],
        }

    def _hold_b_share(self, contact_b: np.ndarray) -> np.ndarray | float:
        """The share of ``hold_b`` that B's hold earns (from stage 2, ``held_active`` is B
        holding): all of it, or, with ``hold_b_min_contact_b``, B's contact term over it, capped at 1."""
        if self.cfg.hold_b_min_contact_b <= 0:
            return 1.0
        return _contact_share(contact_b, self.cfg.hold_b_min_contact_b)

    def finger_squeeze(self, sides: np.ndarray, per_joint: bool = False) -> np.ndarray:
        """For each environment, how far the finger targets of hand ``sides[i]`` (LEFT or RIGHT)
        are closed past its finger joints, in rad (negative: targets more open than the fingers):
        (N,), averaged over that hand's finger joints, or with ``per_joint`` (N × finger joints,
        in the order of ``side_joint_indices``)."""
        open_q, closed_q = hand_open_closed()
        closing = np.sign(closed_q - open_q)
        q = self.sim.joint_pos()
        out = np.zeros((self.num_envs, len(side_joint_indices(LEFT)[1])))
        for side in (LEFT, RIGHT):
            rows = np.flatnonzero(sides == side)
            fingers = side_joint_indices(side)[1]
            cells = np.ix_(rows, fingers)
            out[rows] = (self.targets[cells] - q[cells]) * closing[fingers]
        return out if per_joint else out.mean(axis=1)

    def wrap_b(self, fingertips: np.ndarray) -> np.ndarray:
        """How far hand B's fingertips go around the object's long axis on B's half of it (N,
        0–1; term ``wrap_b`` per unit weight), for fingertips ``fingertips`` (N×2×4×3). In the
        object frame, each of B's four fingertips within ``wrap_b_radius_m`` of the long axis
        (through the object's centre) and on B's side of the centre along it is placed at its
        angle around the axis; the arc they span (360° minus the largest gap between
        neighbours) over 180°, capped at 1. Fingers curled over one face with the thumb away span
        a few tens of degrees; a thumb across the axis from a finger, 180°."""
        tips_b = self._hand_tips(fingertips)[1]
        pose = self.sim.object_pose()
        local = quat_rotate(pose[:, 3:] * np.array([1.0, -1.0, -1.0, -1.0]), tips_b - pose[:, None, :3])
        axis = self.long_axis_local[:, None, :]
        along = (local * axis).sum(axis=2)  # N×4
        radial = local - along[..., None] * axis
        b_end = np.sign((self.stickers_object_frame(RIGHT).mean(axis=1) * self.long_axis_local).sum(axis=1))
        near = (np.linalg.norm(radial, axis=2) <= self.cfg.wrap_b_radius_m) & (along * b_end[:, None] >= 0.0)
        e1, e2 = self.across_axis_local  # objects without a long axis: all angles 0, score 0
        angle = np.arctan2((radial * e2[:, None]).sum(axis=2), (radial * e1[:, None]).sum(axis=2))
        angle = np.sort(np.where(near, angle, np.inf), axis=1)  # the tips out of reach sort last
        count = near.sum(axis=1)
        first = np.where(count[:, None] > 0, angle[:, :1], 0.0)
        # Gaps between neighbours; a tip out of reach repeats the first one's angle plus a turn.
        wrapped = np.where(np.isinf(angle), first + 2 * np.pi, angle)
        gaps = np.diff(np.concatenate([wrapped, first + 2 * np.pi], axis=1), axis=1)
        arc = np.where(count >= 2, 2 * np.pi - gaps.max(axis=1), 0.0)
        return np.clip(arc / np.pi, 0.0, 1.0)

    def _level(self, state, held_up: np.ndarray) -> np.ndarray:
        """Term ``level``: while the object is held up (``held_up``, N), 1 − |z| of its long
        axis, weighted."""
        tilt = np.abs(self.long_axis_world(state["object_quat"])[:, 2])
        return self.cfg.level_weight * held_up * (1.0 - tilt)

    def _a_to_b_world(self, object_quat: np.ndarray) -> np.ndarray:
        """From the centre of hand A's stickers to that of hand B's, in the world frame (N×3),
        for object orientations ``object_quat`` (N×4, w first). Sticker set LEFT holds pattern A's
        stickers and set RIGHT pattern B's, whichever hand is A (as in ``_contact_terms``)."""
        a_to_b = self.stickers_object_frame(RIGHT).mean(axis=1) - self.stickers_object_frame(LEFT).mean(axis=1)
        return quat_rotate(object_quat, a_to_b[:, None, :])[:, 0]

    def aim(self, object_quat: np.ndarray) -> np.ndarray:
        """How far the object points from A's stickers towards B's along y, towards B's side
        (N,): the y of that unit vector, + on B's side, floored at 0 (term ``aim`` per unit weight)."""
        v = self._a_to_b_world(object_quat)
        b_side = np.where(self.hand_a == LEFT, -1.0, 1.0)  # B is the right hand (−y) when A is the left
        return np.maximum(b_side * v[:, 1] / np.maximum(np.linalg.norm(v, axis=1), 1e-9), 0.0)

    def long_axis_world(self, object_quat: np.ndarray) -> np.ndarray:
        """Each object's long axis in the world frame (N×3; zero for objects without one) for
        object orientations ``object_quat`` (N×4, w first)."""
        return quat_rotate(object_quat, self.long_axis_local[:, None, :])[:, 0]

    def stickers_object_frame(self, side: int) -> np.ndarray:
        """Sticker set ``side`` (LEFT: pattern A, RIGHT: pattern B) in the object frame. Patterns
        are given for ``right_to_left`` episodes; in ``left_to_right`` ones both sets are used
        mirrored (y → −y), so an end pattern such as ``right_end`` names the end on hand A's
        side in either direction. Sets symmetric in y are unchanged."""
        self._ensure_state()
        local = super().stickers_object_frame(side)
        return np.where((self.hand_a == LEFT)[:, None, None], mirror_points(local), local)

    def _hand_tips(self, tips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hand A's and hand B's fingertips (N×4×3 each) from both hands' ``tips`` (N×2×4×3)."""
        a_is_left = (self.hand_a == LEFT)[:, None, None]
        return np.where(a_is_left, tips[:, LEFT], tips[:, RIGHT]), np.where(a_is_left, tips[:, RIGHT], tips[:, LEFT])

    def _contact_terms(self, tips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hand A's and hand B's contact terms (N each) for fingertips ``tips`` (N×2×4×3), each
        on its own stickers (pattern A on A's side, pattern B on B's); α is the left hand's
        scale, β the right's."""
        r = self.cfg.reward
        a_is_left = self.hand_a == LEFT
        st_a, st_b = self.stickers_world(LEFT), self.stickers_world(RIGHT)
        tips_a, tips_b = self._hand_tips(tips)
        contact_a = hand_contact_reward(st_a, tips_a, np.where(a_is_left, r.contact_alpha, r.contact_beta)[:, None])
        contact_b = hand_contact_reward(st_b, tips_b, np.where(a_is_left, r.contact_beta, r.contact_alpha)[:, None])
        return contact_a, contact_b

    def phase_a_maximum(self) -> np.ndarray:
        """The most hand A's phase pays per second (N,): contact with all 4 fingertips on their
        stickers, the lift at its cap, held, and the object on the intermediate goal (the goal
        term at distance 0 from the episode's reference distance, the goal-tracking term at 1)."""
        r = self.cfg.reward
        per_hand_contact = 4.0  # fingertips, each at most 1 (see rewards.contact_sticker_reward)
        return (r.contact_weight * per_hand_contact + r.lift_weight * r.lift_cap_m + r.hold_weight + r.goal_track_weight
                + r.goal_weight * self.intermediate_distance0)

    def task_critic_features(self):
        self._ensure_state()
        return np.concatenate([np.eye(2)[self.hand_a], np.eye(5)[np.clip(self.stage, 0, 4)]], axis=1)

    def _closest_final_offset(self, i):
        dx, dy, dz = self.closest_final_offset[i]
        sign_b = 1.0 if self.hand_a[i] == RIGHT else -1.0  # the side of B's table half: A right, B left, +y
        return {"closest_final_short_m": float(-sign_b * dy), "closest_final_dx_m": float(dx),
                "closest_final_dz_m": float(dz)}

    def episode_record_extras(self, i):
        held_s = self.held_steps[i] * self.dt_s
        on_s = self.both_on_stickers_steps[i] * self.dt_s
        return {"direction": "left_to_right" if self.hand_a[i] == LEFT else "right_to_left", "stage": int(self.stage[i]),
                "released": bool(self.released[i]), "held_a_only_s": float(held_s[0]), "held_both_s": float(held_s[1]),
                "held_b_only_s": float(held_s[2]), "closest_final_m": float(self.closest_final[i]),
                "held_both_a_on_stickers_s": float(on_s[0]), "held_both_b_on_stickers_s": float(on_s[1]),
                **self._closest_final_offset(i),
                "assisted": bool(self.assist_active[i])}
