"""The autotune CLI: both argument forms, the subcommands end to end, the report, no overwrite."""

import argparse

import yaml
from dexmani_training.autotune.cli import (
    add_autotune_parser,
    cmd_autotune,
    cmd_excite,
    cmd_make_proxy_bag,
    main,
)
from gr1_description.physics import PhysicsParams


def _parser():
    p = argparse.ArgumentParser(prog="dexmani")
    sub = p.add_subparsers(dest="command")
    add_autotune_parser(sub)
    return p


def test_bare_form_and_subcommands_parse():
    p = _parser()
    a = p.parse_args(["autotune", "--bag", "b", "--out", "o.yaml", "--population", "8", "--seed", "3"])
    assert a.func is cmd_autotune and str(a.bag) == "b" and a.population == 8 and a.seed == 3
    assert a.autotune_command is None
    a = p.parse_args(["autotune", "excite", "--out", "e.csv", "--duration-s", "100"])
    assert a.func is cmd_excite and str(a.out) == "e.csv" and a.duration_s == 100
    a = p.parse_args(["autotune", "make-proxy-bag", "--physics", "h.yaml", "--out", "bag", "--backlash-rad", "0.01",
                      "--latency-s", "0.02", "--noise-rad", "0.001"])
    assert a.func is cmd_make_proxy_bag and a.backlash_rad == 0.01 and a.latency_s == 0.02


def test_bare_form_needs_bag_and_out(capsys):
    assert main(["autotune", "--out", "x.yaml"]) == 2
    assert "needs --bag BAG and --out FILE" in capsys.readouterr().err


def test_excite_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "exc.csv"
    assert main(["autotune", "excite", "--out", str(out), "--duration-s", "12"]) == 0
    text = capsys.readouterr().out
    assert "600 targets at 50 Hz" in text and "min clearance" in text
    before = out.read_bytes()
    assert main(["autotune", "excite", "--out", str(out), "--duration-s", "14"]) == 2
    assert out.read_bytes() == before
    assert main(["autotune", "excite", "--out", str(tmp_path / "x.csv"), "--duration-s", "250"]) == 2
    assert "under four minutes" in capsys.readouterr().err


def test_proxy_bag_then_autotune_with_report(tmp_path, hidden, capsys):
    hidden_yaml = tmp_path / "hidden.yaml"
    hidden.save(hidden_yaml)
    exc = tmp_path / "exc.csv"
    assert main(["autotune", "excite", "--out", str(exc), "--duration-s", "12"]) == 0
    bag = tmp_path / "bag"
    assert main(["autotune", "make-proxy-bag", "--physics", str(hidden_yaml), "--excitation", str(exc), "--out", str(bag),
                 "--storage", "sqlite3", "--distro", "humble", "--no-mimic"]) == 0
    assert "proxy bag" in capsys.readouterr().out
    out = tmp_path / "tuned.yaml"
    report = tmp_path / "report"
    args = ["autotune", "--bag", str(bag), "--out", str(out), "--population", "6", "--refine", "none",
            "--report", str(report), "--quiet", "--seed", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "tuned physics ->" in printed and "validation" in printed
    data = yaml.safe_load(out.read_text())
    fit = data["fit"]
    for key in ("mse_before", "mse_after", "mse_validation_before", "mse_validation_after"):
        assert isinstance(fit[key], float)
    assert fit["mse_after"] <= fit["mse_before"]
    assert fit["bag"] == str(bag.resolve())
    assert fit["state_topic"] == "/joint_states" and fit["command_topic"] == "/joint_commands"
    assert fit["data"]["mimic_measured"] is False
    assert any("mimic_k" in n for n in fit["notes"])  # not identifiable without measured finger joints
    assert set(data["joints"]["left_elbow_pitch_joint"]) == {"kp", "kd", "armature", "damping", "frictionloss", "effort"}
    assert PhysicsParams.load(out).fit["mse_after"] == fit["mse_after"]
    for name in ("index.html", "mse.png", "left_arm.png", "right_hand.png"):
        assert (report / name).stat().st_size > 1000
    assert not (report / "mimic.png").exists()
    html = (report / "index.html").read_text()
    assert "left_elbow_pitch_joint" in html and "validation" in html
    # Never over an existing file without --force (checked before any work); with it, yes.
    before = out.read_text()
    assert main(args) == 2 and out.read_text() == before
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["autotune", "excite", "--out", str(exc), "--duration-s", "14", "--force"]) == 0
    assert "700 targets" in capsys.readouterr().out
