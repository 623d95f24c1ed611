"""Sticker patterns: points on the object's surface, one distinct set per pattern."""

import itertools

import numpy as np
import pytest
from dexmani_training.tasks.rewards import nearest_sticker_distance
from dexmani_training.tasks.stickers import (
    PATTERNS,
    half_extents_m,
    make_stickers,
    pad_sticker_sets,
)
from gr1_sim.objects import get_object

BOX = "cuboid_4x4x8cm"  # distinct x/z extents so a point on a wrong face shows
CYLINDER = "cylinder_r3_h10cm"
SPHERE = "sphere_r3cm"


def surface_distance(shape: str, half: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance of each point from the object's surface (0 on it)."""
    if shape == "box":
        q = np.abs(pts) - half
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        inside = np.minimum(q.max(axis=1), 0.0)
        return np.abs(outside + inside)
    if shape == "sphere":
        return np.abs(np.linalg.norm(pts, axis=1) - half[0])
    if shape == "cylinder":
        r, h = half[0], half[2]
        q = np.stack([np.linalg.norm(pts[:, :2], axis=1) - r, np.abs(pts[:, 2]) - h], axis=1)
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        inside = np.minimum(q.max(axis=1), 0.0)
        return np.abs(outside + inside)
    raise ValueError(shape)


def _cases():
    for obj, pattern in itertools.product((BOX, CYLINDER, SPHERE), PATTERNS):
        marks = []
        yield pytest.param(obj, pattern, id=f"{obj}-{pattern}", marks=marks)


@pytest.mark.parametrize("obj_name, pattern", list(_cases()))
def test_every_pattern_puts_points_on_the_surface(obj_name, pattern):
    obj = get_object(obj_name)
    for scale in (1.0, 1.05):
        half = half_extents_m(obj, scale)
        pts = make_stickers(obj, pattern, points_per_side=3, spread=0.5, scale=scale)
        assert pts.ndim == 2 and pts.shape[1] == 3 and len(pts) >= 3
        assert np.max(surface_distance(obj.shape, half, pts)) < 1e-9, pts


@pytest.mark.parametrize(
    "pattern, axis, signs, count",
    [
        ("side_centres", 1, (1, -1), 18),
        ("all_side_centres", None, None, 36),
        ("top_bottom_centres", 2, (1, -1), 18),
        ("left_side", 1, (1,), 9),
        ("right_side", 1, (-1,), 9),
    ],
)
def test_box_face_patterns_are_on_the_named_faces(pattern, axis, signs, count):
    obj = get_object(BOX)
    half = half_extents_m(obj)
    pts = make_stickers(obj, pattern, points_per_side=3, spread=0.5)
    assert len(pts) == count
    if axis is None:  # the four vertical faces, 9 points each
        on_x = np.isclose(np.abs(pts[:, 0]), half[0])
        on_y = np.isclose(np.abs(pts[:, 1]), half[1])
        assert np.all(on_x ^ on_y)
        for a in (0, 1):
            for s in (1, -1):
                assert np.sum(np.isclose(pts[:, a], s * half[a]) & ~np.isclose(np.abs(pts[:, 1 - a]), half[1 - a])) == 9
        assert np.all(np.abs(pts[:, 2]) <= 0.5 * half[2] + 1e-12)
        return
    face = np.isclose(np.abs(pts[:, axis]), half[axis])
    assert np.all(face)
    assert set(np.sign(pts[:, axis]).astype(int)) == set(signs)
    # Spread over the central half of the face.
    others = [a for a in range(3) if a != axis]
    assert np.all(np.abs(pts[:, others]) <= 0.5 * half[others] + 1e-12)
    assert len(np.unique(pts.round(12), axis=0)) == count


def test_box_bottom_edge_patterns():
    obj = get_object(BOX)
    half = half_extents_m(obj)
    both = make_stickers(obj, "bottom_edges", points_per_side=4)
    left = make_stickers(obj, "left_bottom_edge", points_per_side=4)
    right = make_stickers(obj, "right_bottom_edge", points_per_side=4)
    assert len(both) == 8 and len(left) == len(right) == 4
    for pts in (both, left, right):
        np.testing.assert_allclose(pts[:, 2], -half[2])
        np.testing.assert_allclose(np.abs(pts[:, 1]), half[1])
    assert np.all(left[:, 1] > 0) and np.all(right[:, 1] < 0)


def test_bar_end_patterns_cover_one_end_and_leave_the_middle_free():
    obj = get_object("bar_5x18x5cm")
    half = half_extents_m(obj)
    left = make_stickers(obj, "left_end", points_per_side=3, spread=0.5)
    right = make_stickers(obj, "right_end", points_per_side=3, spread=0.5)
    assert len(left) == len(right) == 27  # two long faces and the end face, 9 points each
    assert np.max(surface_distance("box", half, left)) < 1e-9
    # Each on its own end: nothing in the middle third of the bar, which stays free.
    assert np.all(left[:, 1] >= half[1] / 3 - 1e-12) and np.all(right[:, 1] <= -half[1] / 3 + 1e-12)
    end_face = np.isclose(left[:, 1], half[1])
    assert end_face.sum() == 9
    np.testing.assert_allclose(np.abs(left[~end_face, 0]), half[0])  # the rest on the ±x faces
    assert np.sum(left[~end_face, 0] > 0) == np.sum(left[~end_face, 0] < 0) == 9
    # Mirror images of each other.
    np.testing.assert_allclose(np.sort(left * [1, -1, 1], axis=0), np.sort(right, axis=0), atol=1e-12)


def test_patterns_differ():
    for name in (BOX, CYLINDER, SPHERE):
        obj = get_object(name)
        sets = {p: make_stickers(obj, p) for p in PATTERNS}
        for p, q in itertools.combinations(PATTERNS, 2):
            a, b = sets[p], sets[q]
            same = a.shape == b.shape and np.allclose(np.sort(a, axis=0), np.sort(b, axis=0))
            assert not same, f"{name}: patterns {p} and {q} give the same stickers"


def test_points_per_side_spread_and_scale():
    obj = get_object("cube_5cm")
    one = make_stickers(obj, "side_centres", points_per_side=1)
    np.testing.assert_allclose(one, [[0, 0.025, 0], [0, -0.025, 0]], atol=1e-12)
    tight = make_stickers(obj, "side_centres", points_per_side=3, spread=0.0)
    np.testing.assert_allclose(np.unique(tight.round(12), axis=0), [[0, -0.025, 0], [0, 0.025, 0]], atol=1e-12)
    wide = make_stickers(obj, "left_side", points_per_side=3, spread=1.0)
    assert np.isclose(np.abs(wide[:, [0, 2]]).max(), 0.025)  # reaches the face's edges
    np.testing.assert_allclose(make_stickers(obj, "all_side_centres", scale=1.04), 1.04 * make_stickers(obj, "all_side_centres"))


def test_bad_arguments_raise_value_errors_naming_the_valid_values():
    obj = get_object("cube_5cm")
    with pytest.raises(ValueError) as e:
        make_stickers(obj, "corners")
    msg = str(e.value)
    assert "corners" in msg
    for p in PATTERNS:
        assert p in msg
    with pytest.raises(ValueError, match="points_per_side"):
        make_stickers(obj, "side_centres", points_per_side=0)
    with pytest.raises(ValueError, match="spread"):
        make_stickers(obj, "side_centres", spread=1.5)


def test_unknown_pattern_in_a_task_config_is_refused(small_env):
    with pytest.raises(ValueError, match="valid patterns"):
        small_env("grasp_and_reach", num_envs=1, sticker_pattern="corners")


def test_pad_sticker_sets_keeps_nearest_distances():
    a = np.array([[0.0, 0, 0], [1, 0, 0]])
    b = np.array([[0.0, 2, 0], [0, 3, 0], [0, 4, 0], [0, 5, 0]])
    padded = pad_sticker_sets([a, b])
    assert padded.shape == (2, 4, 3)
    np.testing.assert_array_equal(padded[1], b)
    np.testing.assert_array_equal(padded[0, :2], a)
    np.testing.assert_array_equal(padded[0, 2:], [a[0], a[0]])
    tips = np.random.default_rng(0).normal(size=(1, 4, 3))
    np.testing.assert_allclose(nearest_sticker_distance(padded[:1], tips), nearest_sticker_distance(a[None], tips))
