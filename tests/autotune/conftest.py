"""Shared fixtures: one short excitation, a proxy robot with known hidden physics, a proxy bag."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from autotune_helpers import hidden_physics, write_recording
from dexmani_training.autotune.config import ExcitationConfig
from dexmani_training.autotune.excitation import ClearanceChecker, generate_excitation
from gr1_description.physics import PhysicsParams
from gr1_sim.proxy import ProxyConfig, ProxyRobot


@pytest.fixture(scope="session")
def checker() -> ClearanceChecker:
    return ClearanceChecker()


@pytest.fixture(scope="session")
def short_excitation(checker):
    """30 s of calibration motion (the default is 200 s)."""
    return generate_excitation(ExcitationConfig(duration_s=30.0), checker)


@pytest.fixture(scope="session")
def hidden() -> PhysicsParams:
    return hidden_physics()


@pytest.fixture(scope="session")
def proxy_recording(short_excitation, hidden):
    return ProxyRobot(hidden, ProxyConfig()).run(short_excitation.times_s, short_excitation.targets_rad)


@pytest.fixture(scope="session")
def proxy_bag(tmp_path_factory, proxy_recording) -> Path:
    """The proxy recording as an mcap Jazzy bag (shared, read-only)."""
    return write_recording(tmp_path_factory.mktemp("bags") / "proxy", proxy_recording)


@pytest.fixture
def hidden_copy(hidden) -> PhysicsParams:
    return copy.deepcopy(hidden)
