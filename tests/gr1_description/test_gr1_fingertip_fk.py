"""Fingertip forward kinematics from the 26 controlled joints (what the actor's fingertip
observation and a deployed runtime compute from encoders), against the URDF's own FK and the
simulator's fingertip sites."""

from __future__ import annotations

import numpy as np
import pytest

from gr1_description import joints as jt
from gr1_description import mjcf, urdf
from gr1_description.kinematics import FingertipKinematics
from gr1_description.physics import MimicCoupling, PhysicsParams


def _random_joints(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(jt.lower_limits(), jt.upper_limits(), (n, jt.NUM_CONTROLLED))


def test_matches_urdf_forward_kinematics_with_mimic_joints_from_their_drivers():
    model = mjcf.build_robot_model()
    fk = FingertipKinematics(model)
    u = urdf.load_urdf()
    q = _random_joints(np.random.default_rng(0), 3)
    tips = fk(q)
    assert tips.shape == (3, 2, 4, 3)
    base = np.asarray(mjcf.ModelConfig().base_pos_m)
    names = jt.joint_names()
    for row in range(3):
        qd = dict(zip(names, q[row]))
        for m in jt.MIMIC_JOINTS:  # the coupling FK must apply itself
            qd[m.name] = m.k * qd[m.driver] + m.b
        poses = urdf.forward_kinematics(u, qd)
        for s, side in enumerate(jt.SIDES):
            for f, link in enumerate(jt.FINGERTIP_LINKS[side]):
                np.testing.assert_allclose(tips[row, s, f], poses[link][:3, 3] + base, atol=1e-3, err_msg=link)
    # Different joints give different tips (the data buffer is not stale between rows).
    assert np.linalg.norm(tips[0] - tips[1]) > 0.05


def test_follows_the_mimic_coupling_of_the_physics_file():
    model = mjcf.build_robot_model()
    q = np.zeros((1, jt.NUM_CONTROLLED))
    q[0, jt.joint_names().index("R_index_proximal_joint")] = -1.0
    default = FingertipKinematics(model)(q)
    phys = PhysicsParams.default()
    phys.mimic["R_index_intermediate_joint"] = MimicCoupling(k=0.0, b=0.0)  # distal link stays straight
    straight = FingertipKinematics(model, phys)(q)
    moved = np.linalg.norm(default - straight, axis=-1)
    assert moved[0, 1, 1] > 0.005  # the right index tip moves
    assert np.all(np.delete(moved.reshape(-1), 5) < 1e-9)  # nothing else does


def test_agrees_with_the_simulated_fingertips_after_stepping():
    from gr1_sim.batch import BatchedSim

    sim = BatchedSim("tabletop", num_envs=3, seed=0, num_threads=1)
    fk = FingertipKinematics(sim.models[0], sim.scene.physics)
    rng = np.random.default_rng(1)
    for _ in range(10):
        sim.step(np.clip(sim.joint_pos() + rng.normal(0, 0.1, (3, jt.NUM_CONTROLLED)), jt.lower_limits(), jt.upper_limits()))
    # The simulated mimic joints are held by soft equality constraints: within a millimetre.
    np.testing.assert_allclose(fk(sim.joint_pos()), sim.fingertip_pos(), atol=1e-3)
    sim.close()


def test_rejects_a_wrong_joint_vector():
    fk = FingertipKinematics(mjcf.build_robot_model())
    with pytest.raises(ValueError, match="N×26"):
        fk(np.zeros((2, 13)))
