"""Latency: cross-correlation recovers a known shift; on a proxy bag the model-based estimate
finds the hidden latency although the command → motion lag is much larger."""

import copy

import numpy as np
import pytest
from autotune_helpers import HIDDEN_LATENCY_S
from dexmani_training.autotune.bag import read_bag
from dexmani_training.autotune.latency import estimate_delay_s
from dexmani_training.autotune.replay import Replay
from dexmani_training.autotune.tune import estimate_latency


@pytest.mark.parametrize("shift_s", [0.0, 0.037, 0.08, -0.02])
def test_cross_correlation_recovers_a_known_shift(shift_s):
    rate = 50.0
    t = np.arange(0, 40, 1 / rate)
    rng = np.random.default_rng(1)

    def signal(tt):
        f = 0.2 + 0.04 * tt  # a chirp per joint, different phases
        return np.stack([np.sin(2 * np.pi * f * tt + k) + 0.3 * np.sin(2 * np.pi * 0.13 * tt * (k + 1)) for k in range(5)], axis=1)

    ref = signal(t)
    delayed = signal(t - shift_s) + rng.normal(0, 0.002, ref.shape)
    est = estimate_delay_s(ref, delayed, rate, max_delay_s=0.2)
    assert est == pytest.approx(shift_s, abs=0.003)


def test_estimate_needs_motion():
    flat = np.zeros((100, 3))
    with pytest.raises(ValueError, match="no joint moves"):
        estimate_delay_s(flat, flat, 50.0)


def test_model_based_estimate_on_a_proxy_bag(proxy_bag, hidden):
    rec = read_bag(proxy_bag)
    zero = copy.deepcopy(hidden)
    zero.latency_s = 0.0
    with Replay(rec, hidden) as rp:
        sim = rp.simulate([zero])[0]
        est, apparent = estimate_latency(rp, sim)
    assert est == pytest.approx(HIDDEN_LATENCY_S, abs=0.006)
    assert apparent > est + 0.02  # the raw command → motion lag includes the PD's own lag
