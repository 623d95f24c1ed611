"""The dexmani CLI: help, listing, rendering to PNG, the simulator benchmark, and its errors."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
from dexmani_training.cli import build_parser, main


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "sim" in out and "bench" in out and "dexmani bench sim" in out


def test_sim_list_json(capsys):
    assert main(["sim", "list", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info["scenes"]) == {"tabletop", "box_lift", "handover"}
    assert "cube_5cm" in info["object_groups"]["train"]
    assert not set(info["object_groups"]["train"]) & set(info["object_groups"]["novel"])


def test_sim_render_writes_pngs_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["sim", "render", "--scene", "tabletop", "--object", "sphere_r3cm", "--resolution", "train",
            "--settle-s", "0.1", "--out", str(out)]
    assert main(args) == 0
    for cam in ("head", "third_view"):
        for kind in ("rgb", "depth", "seg", "overlay"):
            img = iio.imread(out / f"{cam}_train_{kind}.png")
            assert img.shape == (48, 64, 3)
        depth = iio.imread(out / f"{cam}_train_depth.png")
        assert np.unique(depth.reshape(-1, 3), axis=0).shape[0] > 10  # a colour map, not a flat image
    index = json.loads((out / "index.json").read_text())
    assert index["images"]["head_train"]["object_pixels"] > 0
    lo, hi = index["images"]["head_train"]["depth_m_range"]
    assert 0.3 < lo < hi < 4.0
    capsys.readouterr()
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["sim", "render", "--scene", "kitchen", "--out", "x"], "valid scenes"),
        (["sim", "render", "--object", "teapot", "--out", "x"], "valid objects"),
        (["sim", "render", "--camera", "wrist", "--out", "x"], "valid cameras"),
    ],
)
def test_bad_names_list_the_valid_ones(argv, expected, capsys, tmp_path):
    argv = [a if a != "x" else str(tmp_path / "x") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err


def test_bench_sim_reports_throughput_and_ratio(capsys):
    assert main(["bench", "sim", "--num-envs", "4", "--seconds", "0.3", "--no-render", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("env_steps_per_s", "physics_steps_per_s", "ratio", "machine"):
        assert key in result
    assert result["env_steps_per_s"] > 0 and result["physics_steps_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["env_physics_steps_per_s"] / result["physics_steps_per_s"])
    assert result["env_physics_steps_per_s"] == pytest.approx(result["env_steps_per_s"] * result["control_decimation"])


def test_parser_requires_a_subcommand():
    with pytest.raises(SystemExit):
        build_parser().parse_args([])
