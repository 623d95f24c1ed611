"""Autotune settings: calibration motions, bag ingestion, replay, search, report.

Every field has a unit in its name or docstring. ``config/autotune_default.yaml`` holds these
defaults (a test checks they are equal); ``dexmani autotune --config FILE`` overrides any subset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ..dataclass_config import config_from_dict, plain

#: Per-joint parameters of ``gr1_description.physics.JointPhysics`` autotune can search.
JOINT_PARAMETERS = ("kp", "kd", "armature", "damping", "frictionloss", "effort")
#: Parameters of the mimic couplings q_u = k * q_a + b.
MIMIC_PARAMETERS = ("mimic_k", "mimic_b")
SEARCH_PARAMETERS = JOINT_PARAMETERS + MIMIC_PARAMETERS + ("latency_s",)

#: How many values a parameter has: one per joint, one per left/right pair of the same joint,
#: one per side group (left arm, left hand, right arm, right hand; per hand for mimic), one for
#: the whole robot (latency only), or none (kept at its initial value).
SCOPES = ("joint", "pair", "group", "global", "fixed")


@dataclass
class ExcitationConfig:
    """Calibration motions for the 26 joints (``dexmani autotune excite``)."""

    duration_s: float = 200.0  # total, including the ramps; must stay under 240 s
    rate_hz: float = 50.0  # rate of the joint target file
    seed: int = 0
    position_margin_frac: float = 0.1  # targets stay this fraction of each joint's range inside its limits
    arm_speed_frac: float = 0.25  # commanded arm speed ≤ this fraction of the URDF velocity limit
    hand_speed_limit_rad_s: float = 2.0  # the URDF gives no hand velocity limit
    arm_step_rad: float = 0.12  # size of the arm step commands
    hand_step_rad: float = 0.4
    arm_chirp_amplitude_rad: float = 0.2
    hand_chirp_amplitude_rad: float = 0.35
    chirp_start_hz: float = 0.2
    chirp_end_hz: float = 5.0  # up to the PD bandwidth of the arm joints (3.5-8 Hz), where inertia shows
    min_clearance_m: float = 0.03  # hands/forearms vs each other and the torso/head (commanded poses)
    # Share of the time (after the ramps) spent in each kind of motion.
    steps_frac: float = 0.2
    chirps_frac: float = 0.35
    sweeps_frac: float = 0.2
    poses_frac: float = 0.25

    def validate(self) -> None:
        if not 10.0 <= self.duration_s < 240.0:
            raise ValueError(f"excitation duration_s must be in [10, 240) s (under four minutes), got {self.duration_s}")
        if self.rate_hz <= 0:
            raise ValueError(f"excitation rate_hz must be > 0, got {self.rate_hz}")
        if not 0.0 <= self.position_margin_frac < 0.5:
            raise ValueError(f"position_margin_frac must be in [0, 0.5), got {self.position_margin_frac}")
        if not 0.0 < self.arm_speed_frac <= 1.0:
            raise ValueError(f"arm_speed_frac must be in (0, 1], got {self.arm_speed_frac}")
        fr = [self.steps_frac, self.chirps_frac, self.sweeps_frac, self.poses_frac]
        if min(fr) < 0 or abs(sum(fr) - 1.0) > 1e-6:
            raise ValueError(f"steps/chirps/sweeps/poses fractions must be >= 0 and sum to 1, got {fr}")
        if not 0 < self.chirp_start_hz < self.chirp_end_hz:
            raise ValueError(f"need 0 < chirp_start_hz < chirp_end_hz, got {self.chirp_start_hz}, {self.chirp_end_hz}")


@dataclass
class IngestConfig:
    """Reading a bag and turning it into aligned, resampled arrays."""

    state_topic: str = "/joint_states"
    command_topic: str = "/joint_commands"
    # Joint order of std_msgs/Float64MultiArray commands (they carry no names); empty: the 26
    # controlled joints in canonical order.
    command_joint_order: tuple[str, ...] = ()
    rate_hz: float = 50.0  # control rate of the replay grid; 1/rate_hz must be a multiple of the timestep
    use_header_stamps: bool = True  # JointState/JointTrajectory header stamps; log time when zero or off
    max_gap_s: float = 0.1  # measured-state gaps longer than this are left out of the metric
    max_invalid_frac: float = 0.2  # refuse a bag whose gaps/NaNs cover more than this of its duration
    min_duration_s: float = 5.0  # refuse shorter overlaps of states and commands
    validation_frac: float = 0.2  # the last part of the recording, held out from the search

    def validate(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError(f"ingest rate_hz must be > 0, got {self.rate_hz}")
        if not 0.0 < self.validation_frac < 0.9:
            raise ValueError(f"validation_frac must be in (0, 0.9), got {self.validation_frac}")
        if self.max_gap_s <= 0:
            raise ValueError(f"max_gap_s must be > 0, got {self.max_gap_s}")
        if not 0.0 <= self.max_invalid_frac < 1.0:
            raise ValueError(f"max_invalid_frac must be in [0, 1), got {self.max_invalid_frac}")


@dataclass
class ReplayConfig:
    """Open-loop replay of the recorded commands in K simulators."""

    timestep_s: float = 0.005  # physics step, as in the training scenes
    num_threads: int = 0  # 0: all cores
    chunk_steps: int = 2000  # physics steps per mujoco.rollout call (bounds memory)

    def validate(self) -> None:
        if self.timestep_s <= 0 or self.chunk_steps < 1 or self.num_threads < 0:
            raise ValueError(f"bad replay settings: {self}")


@dataclass
class ParameterRange:
    """Search range of one parameter.

    ``range`` is multiplicative (× the initial value, sampled log-uniformly) for kp, kd,
    armature, damping, frictionloss, effort and mimic_k; an offset in rad for mimic_b; an
    absolute value in s for latency_s.
    """

    scope: str = "joint"
    range: tuple[float, float] = (0.5, 2.0)


def _default_parameters() -> dict[str, ParameterRange]:
    return {
        "kp": ParameterRange("joint", (0.5, 2.0)),
        "kd": ParameterRange("joint", (0.5, 2.0)),
        "armature": ParameterRange("joint", (0.25, 4.0)),
        # Joint damping and the actuator's kd act identically on the joint velocity; only their
        # sum is identifiable, so damping stays fixed and kd absorbs the difference.
        "damping": ParameterRange("fixed", (0.25, 4.0)),
        "frictionloss": ParameterRange("joint", (0.2, 5.0)),
        # Only identifiable where the excitation saturates the actuator; off by default.
        "effort": ParameterRange("fixed", (0.5, 1.5)),
        "mimic_k": ParameterRange("joint", (0.8, 1.25)),
        "mimic_b": ParameterRange("joint", (-0.1, 0.1)),
        "latency_s": ParameterRange("global", (0.0, 0.1)),
    }


@dataclass
class SearchConfig:
    """Random search over K candidates, then a refinement stage."""

    population: int = 64  # K: candidates of the random search (the paper's single round)
    seed: int = 0
    refine: str = "cmaes"  # none | cmaes
    cma_generations: int = 30
    cma_population: int = 16  # candidates per generation (all blocks share the rollouts)
    cma_sigma0: float = 0.15  # initial step, in units of each parameter's normalized range
    # The first cma_offset_frac of the generations also search a per-joint latency offset
    # (±latency_offset_range_s) in each joint's block; their median then moves the global
    # latency (latency and inertia trade off along a narrow valley that a global-only latency
    # cannot follow).
    cma_offset_frac: float = 0.4
    latency_offset_range_s: float = 0.02
    parameters: dict[str, ParameterRange] = field(default_factory=_default_parameters)

    @property
    def cma_offset_generations(self) -> int:
        return round(self.cma_offset_frac * self.cma_generations)

    def validate(self) -> None:
        if self.population < 1:
            raise ValueError(f"population must be >= 1, got {self.population}")
        if self.refine not in ("none", "cmaes"):
            raise ValueError(f"refine must be 'none' or 'cmaes', got {self.refine!r}")
        if self.cma_generations < 0 or self.cma_population < 4:
            raise ValueError(f"need cma_generations >= 0 and cma_population >= 4, got {self.cma_generations}, {self.cma_population}")
        if not 0.0 <= self.cma_offset_frac <= 1.0:
            raise ValueError(f"cma_offset_frac must be in [0, 1], got {self.cma_offset_frac}")
        if self.latency_offset_range_s <= 0:
            raise ValueError(f"latency_offset_range_s must be > 0, got {self.latency_offset_range_s}")
        unknown = set(self.parameters) - set(SEARCH_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown search parameters {sorted(unknown)}; known: {list(SEARCH_PARAMETERS)}")
        for name, p in self.parameters.items():
            if p.scope not in SCOPES:
                raise ValueError(f"parameter {name}: scope must be one of {SCOPES}, got {p.scope!r}")
            if name == "latency_s" and p.scope not in ("global", "fixed"):
                raise ValueError(f"parameter latency_s: scope must be 'global' or 'fixed', got {p.scope!r}")
            if name != "latency_s" and p.scope == "global":
                raise ValueError(f"parameter {name}: scope 'global' is only for latency_s; use joint, pair, group or fixed")
            lo, hi = p.range
            if not lo < hi:
                raise ValueError(f"parameter {name}: range must be [lo, hi] with lo < hi, got {list(p.range)}")
            if name not in ("mimic_b", "latency_s") and lo <= 0:
                raise ValueError(f"parameter {name}: a scale range must be positive, got {list(p.range)}")
            if name == "latency_s" and lo < 0:
                raise ValueError(f"parameter latency_s: range must be >= 0 s, got {list(p.range)}")


@dataclass
class ReportConfig:
    zoom_s: float = 6.0  # length of the zoomed window in the per-joint plots
    dpi: int = 80


@dataclass
class RandomizationConfig:
    """Domain-randomization ranges written into ``fit:``, × the tuned values (paper Table 4)."""

    kp_scale: tuple[float, float] = (0.8, 1.1)
    kd_scale: tuple[float, float] = (0.7, 1.2)


@dataclass
class AutotuneConfig:
    excitation: ExcitationConfig = field(default_factory=ExcitationConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)

    def validate(self) -> None:
        self.excitation.validate()
        self.ingest.validate()
        self.replay.validate()
        self.search.validate()
        decimation = 1.0 / (self.ingest.rate_hz * self.replay.timestep_s)
        if abs(decimation - round(decimation)) > 1e-6 or round(decimation) < 1:
            raise ValueError(
                f"ingest.rate_hz {self.ingest.rate_hz} must divide the physics rate "
                f"{1 / self.replay.timestep_s:g} Hz (replay.timestep_s {self.replay.timestep_s})"
            )

    # --- YAML -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> AutotuneConfig:
        """Defaults overridden by ``data``; unknown keys are errors that name them."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping, got {type(data).__name__}")  # noqa: TRY004 (a user error)
        cfg = cls()
        sections = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(sections)
        if unknown:
            raise ValueError(f"{source}: unknown sections {sorted(unknown)}; known: {sorted(sections)}")
        for name, values in data.items():
            if values is None:
                continue
            base = getattr(cfg, name)
            if name == "search":
                values = dict(values)
                params = values.pop("parameters", None) or {}
                section = config_from_dict(type(base), values, base, f"{source}: search")
                merged = dict(section.parameters)
                bad = set(params) - set(SEARCH_PARAMETERS)
                if bad:
                    raise ValueError(f"{source}: unknown search parameters {sorted(bad)}; known: {list(SEARCH_PARAMETERS)}")
                for pname, pvals in params.items():
                    merged[pname] = config_from_dict(type(merged[pname]), pvals or {}, merged[pname], f"{source}: search.parameters.{pname}")
                section.parameters = merged
            else:
                section = config_from_dict(type(base), values, base, f"{source}: {name}")
            setattr(cfg, name, section)
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> AutotuneConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"autotune config not found: {path}")
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f) or {}, source=str(path))


