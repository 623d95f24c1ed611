"""``dexmani autotune``: tune the simulator's physics to a recorded bag; make calibration motions
and proxy-real bags.

    dexmani autotune --bag BAG --out tuned.yaml [--report DIR] ...   fit physics to a bag
    dexmani autotune excite --out excitation.csv [--duration-s 200]   calibration motions
    dexmani autotune make-proxy-bag --physics HIDDEN.yaml --out BAG    a bag of a simulated robot

``add_autotune_parser(subparsers)`` adds the subcommand to a parser (the ``dexmani`` CLI);
``main()`` runs it standalone: ``python -m dexmani_training.autotune.cli autotune ...``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """examples:
  dexmani autotune excite --out excitation.csv --duration-s 200
  ros2 bag record -o calib /joint_states /joint_commands                          (robot, terminal 1)
  ros2 run dexmani_training excitation_player --ros-args -p file:=excitation.csv   (robot, terminal 2)
  dexmani autotune --bag calib --out tuned.yaml --report report/
  dexmani sim render --physics tuned.yaml --out renders

  dexmani autotune make-proxy-bag --physics hidden.yaml --out proxy_bag --latency-s 0.02
"""


def add_autotune_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``autotune`` (with ``excite`` and ``make-proxy-bag``) to an argparse subparsers object."""
    p = subparsers.add_parser(
        "autotune",
        help="fit simulator physics to a recorded rosbag2; make calibration motions and proxy bags",
        description="Replay the joint commands recorded in BAG open-loop in K simulators with different "
        "physics (kp, kd, armature, friction, mimic couplings, latency), keep the parameters whose joint "
        "tracking is closest to the measurement (random search, then CMA-ES), and write them as a physics "
        "YAML that `--physics` of the simulator and training takes. Without a subcommand, --bag and --out "
        "are required.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--bag", type=Path, help="rosbag2 directory (sqlite3 or mcap) with joint states and commands")
    p.add_argument("--out", type=Path, help="tuned physics YAML to write")
    p.add_argument("--state-topic", help="measured sensor_msgs/JointState topic; default /joint_states")
    p.add_argument("--command-topic", help="command topic (sensor_msgs/JointState, std_msgs/Float64MultiArray or "
                   "trajectory_msgs/JointTrajectory); default /joint_commands")
    p.add_argument("--population", type=int, help="K, candidates of the random search; default 64")
    p.add_argument("--seed", type=int, help="search seed; default 0")
    p.add_argument("--refine", choices=("cmaes", "none"), help="refinement after the random search; default cmaes")
    p.add_argument("--generations", type=int, help="CMA-ES generations; default 30")
    p.add_argument("--initial", type=Path, help="physics YAML to start from (default: the built-in defaults)")
    p.add_argument("--config", type=Path, help="autotune YAML overriding config/autotune_default.yaml settings")
    p.add_argument("--threads", type=int, help="simulation threads; default: all cores")
    p.add_argument("--report", type=Path, help="also write an HTML report with per-joint plots into this folder")
    p.add_argument("--force", action="store_true", help="overwrite --out (and the report)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_autotune)
    sub = p.add_subparsers(dest="autotune_command", metavar="{excite,make-proxy-bag}")
    sub.required = False

    e = sub.add_parser(
        "excite",
        help="write calibration motions (joint targets for the 26 joints) as a CSV",
        description="Steps, chirps, slow sweeps and random gravity-loaded poses for both arms and hands, "
        "within safe margins of the joint and speed limits, keeping hands and forearms clear of each other "
        "and the torso. Play it on the robot with the excitation player node and record a bag.",
    )
    e.add_argument("--out", type=Path, required=True, help="CSV file to write")
    e.add_argument("--duration-s", type=float, help="total duration, under 240 s; default 200")
    e.add_argument("--rate-hz", type=float, help="target rate; default 50")
    e.add_argument("--seed", type=int, help="random poses and sweep phases; default 0")
    e.add_argument("--config", type=Path, help="autotune YAML (its excitation section is used)")
    e.add_argument("--force", action="store_true", help="overwrite --out")
    e.set_defaults(func=cmd_excite)

    m = sub.add_parser(
        "make-proxy-bag",
        help="simulate a robot with hidden physics following an excitation and record it as a rosbag2",
        description="The proxy-real robot: the GR1 model with the physics of --physics (same format as "
        "tuned.yaml) plus gear backlash, latency and encoder noise, following the excitation; written as "
        "ros2 bag record would (/joint_states at --state-rate-hz with header stamps, the commands on their topic).",
    )
    m.add_argument("--physics", type=Path, required=True, help="hidden physics YAML of the proxy robot")
    m.add_argument("--out", type=Path, required=True, help="bag directory to create")
    m.add_argument("--excitation", type=Path, help="excitation CSV to follow; default: generate one (--duration-s)")
    m.add_argument("--duration-s", type=float, help="duration of a generated excitation; default 200")
    m.add_argument("--backlash-rad", type=float, help="gear play per joint; default 0.004")
    m.add_argument("--latency-s", type=float, help="command latency; default: latency_s of --physics")
    m.add_argument("--noise-rad", type=float, help="encoder noise std; default 0.0005")
    m.add_argument("--state-rate-hz", type=float, help="joint state rate; default 100")
    m.add_argument("--no-mimic", action="store_true", help="do not measure the underactuated finger joints")
    m.add_argument("--no-velocity", action="store_true", help="leave JointState velocity and effort empty")
    m.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="default mcap")
    m.add_argument("--distro", choices=("jazzy", "humble"), default="jazzy", help="bag format; default jazzy")
    m.add_argument("--command-type", choices=("joint_state", "float64_multi_array", "joint_trajectory"),
                   default="joint_state", help="message type of the commands; default joint_state")
    m.add_argument("--state-topic", default="/joint_states")
    m.add_argument("--command-topic", default="/joint_commands")
    m.add_argument("--compress", action="store_true", help="zstd (mcap chunks, or the sqlite3 file)")
    m.add_argument("--seed", type=int, default=0, help="noise seed; default 0")
    m.add_argument("--force", action="store_true", help="replace --out")
    m.set_defaults(func=cmd_make_proxy_bag)
    return p


def _config(path: Path | None):
    from .config import AutotuneConfig

    return AutotuneConfig.load(path) if path else AutotuneConfig()


def cmd_autotune(args) -> int:
    from gr1_description.physics import PhysicsParams

    from .report import write_report
    from .tune import autotune, write_tuned

    if args.bag is None or args.out is None:
        raise ValueError("dexmani autotune needs --bag BAG and --out FILE (or a subcommand: excite, make-proxy-bag); see --help")
    if args.out.exists() and not args.force:
        raise FileExistsError(f"{args.out} exists; pass --force to overwrite it")
    if args.report and (args.report / "index.html").exists() and not args.force:
        raise FileExistsError(f"{args.report / 'index.html'} exists; pass --force to overwrite the report")
    cfg = _config(args.config)
    for attr, section, key in (("state_topic", "ingest", "state_topic"), ("command_topic", "ingest", "command_topic"),
                               ("population", "search", "population"), ("seed", "search", "seed"),
                               ("refine", "search", "refine"), ("generations", "search", "cma_generations"),
                               ("threads", "replay", "num_threads")):
        value = getattr(args, attr)
        if value is not None:
            setattr(getattr(cfg, section), key, value)
    cfg.validate()
    initial = PhysicsParams.load(args.initial) if args.initial else None
    result = autotune(args.bag, cfg, initial, initial_source=str(args.initial) if args.initial else "defaults",
                      progress=not args.quiet)
    write_tuned(result, args.out, force=args.force)
    f = result.tuned.fit
    print(f"tuned physics -> {args.out}")
    print(f"  joint tracking MSE (rad²): train {f['mse_before']:.3e} -> {f['mse_after']:.3e} "
          f"({f['mse_before'] / max(f['mse_after'], 1e-30):.1f}x), validation {f['mse_validation_before']:.3e} -> "
          f"{f['mse_validation_after']:.3e} ({f['mse_validation_before'] / max(f['mse_validation_after'], 1e-30):.1f}x)")
    print(f"  latency {result.tuned.latency_s * 1000:.1f} ms; {f['search']['evaluations']} rollouts in "
          f"{result.info['wall_s']:.0f} s ({result.info['steps_per_s']:.0f} physics steps/s)")
    if args.report:
        index = write_report(result, args.report, cfg.report.zoom_s, cfg.report.dpi, force=args.force)
        print(f"  report -> {index}")
    return 0


def cmd_excite(args) -> int:
    from dataclasses import replace

    from .excitation import check_excitation, generate_excitation, save_excitation

    if args.out.exists() and not args.force:
        raise FileExistsError(f"{args.out} exists; pass --force to overwrite it")
    cfg = _config(args.config).excitation
    overrides = {k: v for k, v in (("duration_s", args.duration_s), ("rate_hz", args.rate_hz), ("seed", args.seed)) if v is not None}
    cfg = replace(cfg, **overrides)
    exc = generate_excitation(cfg)
    check = check_excitation(exc, cfg)
    save_excitation(exc, args.out, force=args.force)
    print(f"excitation -> {args.out}: {exc.targets_rad.shape[0]} targets at {exc.rate_hz:g} Hz, {exc.duration_s:.1f} s")
    print("  segments: " + ", ".join(f"{k} {a:.0f}-{b:.0f} s" for k, a, b in exc.segments))
    print(f"  smooth motion ≤ {check['max_smooth_speed_frac']:.2f} of the speed limits, steps ≤ {check['max_step_rad']:.2f} rad, "
          f"min clearance {check['min_clearance_m'] * 100:.1f} cm, within limit margins: {check['within_margins']}")
    return 0


def cmd_make_proxy_bag(args) -> int:
    from dataclasses import replace

    from gr1_description.physics import PhysicsParams
    from gr1_sim.proxy import ProxyConfig, ProxyRobot

    from .bagwrite import write_joint_bag
    from .excitation import generate_excitation, load_excitation

    if args.out.exists() and not args.force:
        raise FileExistsError(f"{args.out} exists; pass --force to overwrite it")
    hidden = PhysicsParams.load(args.physics)
    if args.excitation:
        exc = load_excitation(args.excitation)
    else:
        cfg = _config(None).excitation
        if args.duration_s is not None:
            cfg = replace(cfg, duration_s=args.duration_s)
        exc = generate_excitation(cfg)
    pcfg = ProxyConfig(seed=args.seed, include_mimic=not args.no_mimic)
    for attr, key in (("backlash_rad", "backlash_rad"), ("latency_s", "latency_s"), ("noise_rad", "noise_rad"),
                      ("state_rate_hz", "state_rate_hz")):
        if getattr(args, attr) is not None:
            pcfg = replace(pcfg, **{key: getattr(args, attr)})
    rec = ProxyRobot(hidden, pcfg).run(exc.times_s, exc.targets_rad)
    write_joint_bag(
        args.out,
        state_t_s=rec.state_t_s, state_names=rec.state_names, position=rec.position_rad,
        velocity=None if args.no_velocity else rec.velocity_rad_s, effort=None if args.no_velocity else rec.effort_nm,
        command_t_s=rec.command_t_s, command_names=rec.command_names, command=rec.command_rad,
        storage=args.storage, distro=args.distro, state_topic=args.state_topic, command_topic=args.command_topic,
        command_type=args.command_type, compress=args.compress, seed=args.seed, force=args.force,
    )
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"proxy bag -> {args.out} ({args.storage}, {args.distro}, {size / 1e6:.1f} MB): {rec.state_t_s.size} joint states "
          f"at {pcfg.state_rate_hz:g} Hz, {rec.command_t_s.size} commands, latency {rec.latency_s * 1000:.0f} ms, "
          f"backlash {pcfg.backlash_rad} rad, noise {pcfg.noise_rad} rad")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dexmani", description="dexmani autotune (standalone entry point)")
    sub = parser.add_subparsers(dest="command", metavar="{autotune}")
    sub.required = True
    add_autotune_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError, FileExistsError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"dexmani: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
