"""Task-aware initialization: libraries of initial states (robot joint positions + object pose)
recorded from a person operating the robot (or from a trained policy's rollouts), sampled at
episode reset.

A library is one ``.npz`` file:

- ``joint_names`` (26,): the canonical joint names, checked against the joint table on load;
- ``joint_pos`` (K×26, rad) and ``object_pose`` (K×7: x, y, z in the world frame, quaternion
  w, x, y, z);
- ``lead_hand`` (K, optional): the hand that began the task in the episode the state was
  recorded from — 0 left, 1 right, −1 not known. Where it is known, a task whose roles depend on
  it (handover's hand A, grasp_and_reach's grasping hand) takes it from here instead of guessing
  from the state: once the object has been carried across the midline, or both hands touch it,
  the state alone no longer says which hand began;
- ``stage`` (K, optional): how many of the task's stages (in their order) the recorded episode
  had reached, −1 not known. A task whose stages must happen in order (handover: the object is
  taken to the intermediate goal before hand B's part begins) resumes the episode from there
  instead of from its first stage;
- ``meta``: a JSON string — task, object, source (bag path and topics, or teleop), how many
  states were recorded and how they were thinned.

States recorded from policy rollouts have both (``stage`` only when the policy was trained on
the library's task); teleop and bag states have −1. Files saved before the two existed load
with −1 throughout.

The default library of each task ships in ``dexmani_training/data/init/<task>.npz``; how each
was made is written in the README.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gr1_description import joints as jt

DATA_DIR = Path(__file__).resolve().parent / "data" / "init"


class InitLibraryError(ValueError):
    """An init library that cannot be used (wrong joints, bad shapes, missing file)."""


@dataclass
class InitLibrary:
    joint_pos: np.ndarray  # K×26
    object_pose: np.ndarray  # K×7
    meta: dict[str, Any] = field(default_factory=dict)
    lead_hand: np.ndarray | None = None  # K: 0 left, 1 right, −1 not known (None: all unknown)
    stage: np.ndarray | None = None  # K: stages reached when recorded, −1 not known (None: all unknown)

    def __post_init__(self):
        self.joint_pos = np.asarray(self.joint_pos, dtype=float)
        self.object_pose = np.asarray(self.object_pose, dtype=float)
        k = self.joint_pos.shape[0]
        lead = np.full(k, -1) if self.lead_hand is None else np.asarray(self.lead_hand)
        if lead.shape != (k,) or not np.isin(lead, (-1, 0, 1)).all():
            raise InitLibraryError(f"lead_hand must be {k} values, each -1 (not known), 0 (left) or 1 (right)")
        self.lead_hand = lead.astype(np.int8)
        stage = np.full(k, -1) if self.stage is None else np.asarray(self.stage)
        if stage.shape != (k,) or not np.all((stage >= -1) & (stage == np.round(stage))):
            raise InitLibraryError(f"stage must be {k} whole numbers, each >= 0 or -1 (not known)")
        self.stage = stage.astype(np.int8)
        if self.joint_pos.ndim != 2 or self.joint_pos.shape[1] != jt.NUM_CONTROLLED:
            raise InitLibraryError(f"joint_pos must be K×{jt.NUM_CONTROLLED}, got {self.joint_pos.shape}")
        if self.object_pose.shape != (k, 7):
            raise InitLibraryError(f"object_pose must be {k}×7 (position + quaternion w,x,y,z), got {self.object_pose.shape}")
        if k == 0:
            raise InitLibraryError("an init library needs at least one state")
        if not (np.all(np.isfinite(self.joint_pos)) and np.all(np.isfinite(self.object_pose))):
            raise InitLibraryError("init library contains NaN or infinite values")
        norms = np.linalg.norm(self.object_pose[:, 3:], axis=1)
        if np.any(norms < 1e-6):
            raise InitLibraryError("init library has an object quaternion of zero length")
        self.object_pose[:, 3:] /= norms[:, None]
        self.joint_pos = np.clip(self.joint_pos, jt.lower_limits(), jt.upper_limits())

    def __len__(self) -> int:
        return self.joint_pos.shape[0]

    def mirrored(self) -> "InitLibrary":
        """The left–right mirror image of every state (y → −y): left and right joints swap,
        roll and yaw joints change sign, the object pose is reflected in the x–z plane."""
        from .symmetry import mirror_joints

        q = mirror_joints(self.joint_pos)
        from .symmetry import mirror_points, mirror_quat

        p = np.concatenate([mirror_points(self.object_pose[:, :3]), mirror_quat(self.object_pose[:, 3:])], axis=1)
        lead = np.where(self.lead_hand < 0, -1, 1 - self.lead_hand)
        return InitLibrary(q, p, {**self.meta, "mirrored": True}, lead, self.stage)

    def concat(self, other: "InitLibrary") -> "InitLibrary":
        """This library's states followed by ``other``'s; the metadata keeps this one's and lists
        both parts (their sizes and, where it differs, the other's metadata)."""
        parts = [{"states": len(self)}, {"states": len(other)}]
        if other.meta != self.meta:
            parts[1]["meta"] = other.meta
        return InitLibrary(np.concatenate([self.joint_pos, other.joint_pos]), np.concatenate([self.object_pose, other.object_pose]),
                           {**self.meta, "parts": parts}, np.concatenate([self.lead_hand, other.lead_hand]),
                           np.concatenate([self.stage, other.stage]))

    def rows(self, idx, meta: dict | None = None) -> "InitLibrary":
        """The states at ``idx`` (indices or a boolean mask), in that order; ``meta`` replaces the
        metadata (default: kept)."""
        return InitLibrary(self.joint_pos[idx], self.object_pose[idx], self.meta if meta is None else meta,
                           self.lead_hand[idx], self.stage[idx])

    def with_stages(self, stages) -> "InitLibrary":
        """The states whose recorded ``stage`` is one of ``stages`` (e.g. ``(2,)``: the
        handover's object at the intermediate goal, before hand B's touch)."""
        keep = np.isin(self.stage, list(stages))
        if not keep.any():
            found = sorted(int(s) for s in np.unique(self.stage))
            raise InitLibraryError(f"no init library state has a stage in {sorted(stages)}; its stages: {found} "
                                   "(-1: not known)")
        return self.rows(keep, {**self.meta, "stages": sorted(stages)})

    def sample_rows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The row indices of ``n`` states drawn with replacement."""
        return rng.integers(0, len(self), n)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` states drawn with replacement: joint positions (n×26) and object poses (n×7)."""
        idx = self.sample_rows(n, rng)
        return self.joint_pos[idx].copy(), self.object_pose[idx].copy()

    def save(self, path: str | Path, force: bool = False) -> Path:
        path = Path(path)
        if path.suffix != ".npz":
            raise InitLibraryError(f"init library files end in .npz, got {path}")
        return write_npz(path, force, joint_names=np.array(jt.joint_names()), joint_pos=self.joint_pos.astype(np.float32),
                         object_pose=self.object_pose.astype(np.float32), lead_hand=self.lead_hand, stage=self.stage,
                         meta=np.array(json.dumps(self.meta)))

    @classmethod
    def load(cls, path: str | Path) -> "InitLibrary":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"init library {path} does not exist")
        try:
            data = np.load(path, allow_pickle=False)
            names = [str(n) for n in data["joint_names"]]
            joint_pos, object_pose = data["joint_pos"], data["object_pose"]
            meta = json.loads(str(data["meta"])) if "meta" in data else {}
            lead = data["lead_hand"] if "lead_hand" in data else None  # libraries saved before these two existed
            stage = data["stage"] if "stage" in data else None
        except (KeyError, ValueError, OSError) as e:
            raise InitLibraryError(f"{path}: not an init library ({e})") from e
        expected = list(jt.joint_names())
        if np.ndim(joint_pos) != 2 or np.shape(joint_pos)[1] != len(names):
            raise InitLibraryError(f"{path}: joint_pos has shape {np.shape(joint_pos)}, expected K×{len(names)} (one column per joint name)")
        if names != expected:
            missing = [n for n in expected if n not in names]
            extra = [n for n in names if n not in expected]
            if missing or extra:
                raise InitLibraryError(f"{path}: joint names do not match the joint table; missing {missing}, unknown {extra}")
            joint_pos = joint_pos[:, [names.index(n) for n in expected]]  # same joints, other order
        return cls(joint_pos, object_pose, meta, lead, stage)


def default_library_path(task: str) -> Path:
    return DATA_DIR / f"{task}.npz"


def write_npz(path: Path, force: bool, **arrays) -> Path:
    """``arrays`` as a compressed ``.npz`` at ``path``, written to a temporary file and renamed
    into place (a killed write leaves no half file); refuses an existing file without ``force``."""
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def library_path(path: str | Path) -> Path:
    """``path`` itself where it is a file; else, for a bare name (``handover_bar``), the shipped
    library of that name, or an error listing the shipped ones."""
    p = Path(path)
    if p.is_file() or not (p.name == str(path) and p.suffix in ("", ".npz")):
        return p
    shipped = DATA_DIR / f"{p.stem}.npz"
    if not shipped.is_file():
        raise FileNotFoundError(f"init library {path} is neither a file nor a shipped library "
                                f"(shipped: {shipped_libraries()})")
    return shipped


def shipped_libraries() -> list[str]:
    """Names of the libraries shipped with the package (``data/init/<name>.npz``)."""
    return sorted(p.stem for p in DATA_DIR.glob("*.npz"))


def load_task_library(task: str, path: str | Path | None = None) -> InitLibrary | None:
    """The library at ``path``, or the task's shipped default (None if there is none). A bare
    name that is not a file here (``handover_bar``) names a shipped library."""
    if path is not None:
        return InitLibrary.load(library_path(path))
    p = default_library_path(task)
    return InitLibrary.load(p) if p.is_file() else None
