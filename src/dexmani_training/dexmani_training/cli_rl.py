"""``dexmani train``, ``dexmani eval`` and ``dexmani init``: the specialist-training commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "checkpoints"


def shipped_checkpoint(task: str) -> Path:
    return SHIPPED_DIR / f"{task}.pt"


def actor_source(name: str) -> Path:
    """``--actor-from``: a checkpoint path, or a task name for that task's shipped specialist."""
    from .tasks import task_names

    if name in task_names() and not Path(name).exists():
        p = shipped_checkpoint(name)
        if not p.is_file():
            raise FileNotFoundError(f"no shipped {name} specialist at {p}; give a checkpoint path")
        return p
    p = Path(name)
    if not p.is_file():
        raise FileNotFoundError(f"--actor-from {name}: no such checkpoint, and not a task name ({task_names()})")
    return p


def add_train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a PPO specialist for a task",
        description="PPO with an asymmetric actor-critic (3×512 ELU MLPs) on the batched MuJoCo simulator. Writes "
        "runs/<task>/<name>/: config.yaml, checkpoints (model_<it>.pt, latest.pt), progress.jsonl, TensorBoard "
        "logs in tb/ (tensorboard --logdir runs).",
    )
    p.add_argument("--task", required=True, help="grasp_and_reach | box_lift | handover")
    p.add_argument("--objects", help="object group or object name (default: the task's)")
    p.add_argument("--num-envs", type=int, help="parallel environments (default 64)")
    p.add_argument("--iterations", type=int, help="PPO iterations to reach (default 1000; with --resume, the total; 0 "
                   "writes the starting actor, e.g. after --actor-from and --demo-pretrain, as model_0.pt)")
    p.add_argument("--max-minutes", type=float, help="stop after this many minutes of training wall time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="run name under runs/<task>/ (default: a timestamp)")
    p.add_argument("--run-dir", type=Path, help="run directory (overrides --name)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its latest.pt")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty run directory")
    p.add_argument("--config", type=Path, help="YAML with task settings (any TaskConfig field, nested; at top level or "
                   "under task:) and optionally a train: section (any TrainConfig field, e.g. ppo: {entropy_coef: 0}); "
                   "command-line options override both")
    p.add_argument("--physics", type=Path, help="physics YAML, e.g. autotune's tuned.yaml")
    p.add_argument("--init-library", type=Path, help="init-state library (.npz; default: the task's shipped one); "
                   "with --resume, the run continues with this library (recorded in its config.yaml)")
    p.add_argument("--init-probability", type=float,
                   help="fraction of resets from the init library (default 0.5; with --resume, from then on)")
    p.add_argument("--no-init", action="store_true", help="no task-aware initialization: every reset from the default pose")
    p.add_argument("--no-randomization", action="store_true", help="switch every domain-randomization term off")
    p.add_argument("--randomization-curriculum", choices=["adaptive", "linear", "off"],
                   help="how the randomization strength grows during training (default adaptive: from 0, raised while "
                   "the success rate of nominal-reset training episodes is >= 0.5, lowered below 0.25; linear: over "
                   "--randomization-ramp env steps; off: full strength from the start)")
    p.add_argument("--randomization-ramp", type=float, metavar="ENV_STEPS",
                   help="linear curriculum over this many env steps (implies --randomization-curriculum linear; 0 = off)")
    p.add_argument("--actor-from", metavar="CHECKPOINT_OR_TASK",
                   help="start the actor from this checkpoint, or from a task's shipped specialist when given a task "
                   "name (e.g. --task handover --actor-from grasp_and_reach); the actor inputs must match; the critic "
                   "starts fresh")
    p.add_argument("--actor-from-noise-scale", type=float, metavar="FACTOR",
                   help="with --actor-from: the source's action noise (per-joint std) times FACTOR (default 1: kept); "
                   "below 1 for a task whose last centimetres the source's noise never reaches")
    p.add_argument("--with-critic", action="store_true",
                   help="with --actor-from a run of the same task: start the critic from that checkpoint too "
                   "(same critic inputs and network), instead of fresh")
    p.add_argument("--critic-warmup", type=int, metavar="ITERATIONS",
                   help="iterations in which only the critic learns (default 25 with --actor-from, else 0)")
    p.add_argument("--demos", type=Path, nargs="+", metavar="DEMOS",
                   help="demonstration sets (dexmani demos record), taken together: after each PPO update the actor "
                   "is also pulled towards their actions, at the learning rate times ppo.demo_weight (default 1), decaying by "
                   "ppo.demo_decay (default 0.998) per update")
    p.add_argument("--demo-weight", type=float, metavar="W", help="with --demos: ppo.demo_weight")
    p.add_argument("--demo-pretrain", type=int, metavar="EPOCHS",
                   help="with --demos: first fit the actor to them by this many epochs of behaviour cloning")
    p.add_argument("--save-interval", type=int, help="checkpoint every N iterations (default 50)")
    p.add_argument("--threads", type=int, help="simulator and torch threads (default: all cores; use 1 per run when "
                   "two trainings share a 2-core machine)")
    p.add_argument("--device", help="where the networks and the PPO update run: cpu (default), cuda, cuda:N or auto; "
                   "the simulator steps on the CPU threads either way (with --resume: from then on)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def add_eval_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint in simulation (per-stage success rates, videos)",
        description="Runs --episodes episodes with the deterministic policy (--stochastic: sampled actions) "
        "and prints per-stage success rates. Without --checkpoint the task's shipped specialist is used.",
    )
    p.add_argument("--task", required=True)
    p.add_argument("--checkpoint", type=Path, help="a .pt file or a run directory (its latest.pt)")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--objects", help="object group or name, e.g. novel (default: the checkpoint's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-envs", type=int)
    p.add_argument("--no-randomization", action="store_true", help="evaluate without domain randomization")
    p.add_argument("--init-library", nargs="?", const=True, default=False, metavar="LIBRARY",
                   help="also reset from an init library: the checkpoint's, or LIBRARY (a file or a shipped name); "
                   "off by default")
    p.add_argument("--init-probability", type=float, metavar="P",
                   help="with --init-library: the fraction of resets from the library (default: the checkpoint's)")
    p.add_argument("--task-difficulty", type=float, metavar="D",
                   help="a checkpoint trained with a task curriculum: evaluate at this difficulty (0 … 1) instead "
                   "of the full task (1), e.g. at the run's current one; the JSON names it")
    p.add_argument("--stochastic", action="store_true",
                   help="sample actions from the policy's Gaussian as training does (what the training-episode "
                   "success rates measure) instead of taking its mean; the JSON says which")
    p.add_argument("--assist-release-after", type=float, metavar="S",
                   help="handover: once both hands have held the object up for S seconds, make hand A let go "
                   "(fingers open, arm drawn back), to measure whether hand B's grip carries the object alone (a "
                   "diagnostic, not the task; the JSON names it)")
    p.add_argument("--assist-release-trigger", choices=["both_hands", "stage_2", "b_holds"], default="both_hands",
                   help="what starts --assist-release-after's clock: an unbroken two-hand hold (default), the "
                   "intermediate goal (stage_2) or an unbroken hold by hand B at stage 3 (b_holds)")
    p.add_argument("--assist-hold-a", action="store_true",
                   help="with --assist-release-after: hand A also holds still from the trigger until it lets go "
                   "(hand B's drill)")
    p.add_argument("--assist-release-min-contact-b", type=float, metavar="T",
                   help="with --assist-release-trigger b_holds: count only B's holds with its contact term at least "
                   "T (on its own stickers; default: the checkpoint's assist_release_min_contact_b)")
    p.add_argument("--init-stages", type=int, nargs="+", metavar="K",
                   help="with --init-library: only library states recorded at these stages (handover: 2, the "
                   "object at the intermediate goal before B's touch; 3, after it)")
    p.add_argument("--init-grip-rad", type=float, metavar="RAD",
                   help="with --init-library: start the finger targets of each hand that holds the object this much "
                   "further closed (default: the checkpoint's init.grip_rad)")
    p.add_argument("--switch-to", type=Path, metavar="CHECKPOINT",
                   help="a second checkpoint of the task whose actor takes over in each episode once it reaches "
                   "--switch-at-stage: do two policies, each trained for one part, finish the task together")
    p.add_argument("--switch-at-stage", type=int, metavar="K",
                   help="with --switch-to: the stage from which the second actor acts (default 2; handover: A "
                   "holding the object at the intermediate goal)")
    p.add_argument("--video", type=Path, help="write MP4s of the first episodes (third-view camera) here")
    p.add_argument("--video-episodes", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print only the JSON object")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.set_defaults(func=cmd_eval)


def add_ship_parser(sub) -> None:
    p = sub.add_parser(
        "ship",
        help="write a slim specialist checkpoint (actor + metadata) for eval and deployment",
        description="Keeps the actor, its observation normalizer and the checkpoint's metadata; drops the critic, "
        "optimizer and RNG states. Without --out it writes the task's shipped specialist "
        "(dexmani_training/data/checkpoints/<task>.pt), which `dexmani eval` uses without --checkpoint.",
    )
    p.add_argument("--task", required=True)
    p.add_argument("--checkpoint", type=Path, required=True, help="a .pt file or a run directory (its latest.pt)")
    p.add_argument("--out", type=Path, help="output .pt (default: the task's shipped checkpoint)")
    p.add_argument("--note", help="stored with the checkpoint, e.g. the command that trained it")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=cmd_ship)


def add_init_parser(sub) -> None:
    p = sub.add_parser("init", help="task-aware initialization: record and inspect init-state libraries")
    isub = p.add_subparsers(dest="init_command", metavar="{record,frontier,show}")
    isub.required = True
    r = isub.add_parser(
        "record",
        help="make an init-state library from a rosbag2, keyboard teleoperation or a trained policy's rollouts",
        description="From a rosbag2 (--bag): joint states (sensor_msgs/JointState, names matched to the joint table) "
        "and, if given, an object pose topic (geometry_msgs/PoseStamped, world frame); states are sampled every "
        "--every-s seconds. From keyboard teleop (--teleop): drive the simulated robot's hands with IK in the "
        "terminal; every control step is recorded, thinned to --every-s. --keys FILE replays a key script instead "
        "of reading the keyboard. From a specialist (--policy CHECKPOINT): its deterministic rollouts without "
        "randomization on the task's object, keeping a state every --every-s while it holds the object up; "
        "--from-library starts its rollouts from a library's states and --stage keeps only states past a stage "
        "(to grow a library stage by stage). From scripted handoffs (--handoff LIBRARY, handover only): hand A "
        "holds the object by one end with a grasp taken from LIBRARY's one-hand states, hand B takes the other end "
        "with the mirror image of that grasp, A lets go and B carries the object to the final goal; the states of "
        "the handoffs that succeed, in both directions. From scripted releases (--release LIBRARY, handover only): "
        "the second half of a handoff, started from LIBRARY's states in which both hands hold the object (e.g. a "
        "handover policy's own, from --policy --stage contact_b): B closes its grip, A lets go and withdraws, B "
        "carries the object to the final goal. --append adds the new states to an existing library.",
    )
    r.add_argument("--task", required=True)
    r.add_argument("--out", type=Path, required=True, help="library file (.npz)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--bag", type=Path, help="rosbag2 directory (sqlite3 or mcap)")
    src.add_argument("--teleop", action="store_true", help="keyboard teleoperation of the simulated robot")
    src.add_argument("--policy", type=Path, metavar="CHECKPOINT",
                     help="rollouts of a trained specialist (any task with the same table): the states in which it "
                     "holds the object at least --min-height up")
    src.add_argument("--handoff", type=Path, metavar="LIBRARY",
                     help="handover: scripted handoffs built on this library's one-hand grasps (states with a lead "
                     "hand, e.g. from --policy grasp_and_reach.pt)")
    src.add_argument("--release", type=Path, metavar="LIBRARY",
                     help="handover: scripted releases from this library's states in which both hands hold the "
                     "object (states with a lead hand, e.g. from --policy handover.pt --stage contact_b)")
    r.add_argument("--joint-topic", default="/joint_states")
    r.add_argument("--object-topic", help="geometry_msgs/PoseStamped of the object (world frame)")
    r.add_argument("--object", help="object for teleop or --policy rollouts (default: the policy's objects when it was "
                   "trained on this task, else the task's)")
    r.add_argument("--episodes", type=int, default=256, help="--policy, --handoff, --release: rollouts, handoffs or states to start releases "
                   "from (default 256)")
    r.add_argument("--min-height", type=float, default=0.05, help="--policy: keep states with the object this far above "
                   "its resting height, in metres; --handoff: the grasps to use (default 0.05)")
    r.add_argument("--seed", type=int, default=0, help="--policy, --handoff, --release: seed")
    r.add_argument("--stage", help="--policy: keep only states of episodes that reached this stage of the policy's task")
    r.add_argument("--stochastic", action="store_true",
                   help="--policy: sample actions from the policy's action distribution, as in training, instead of "
                   "taking its mean")
    r.add_argument("--from-library", type=Path, metavar="LIBRARY",
                   help="--policy: start every rollout from this library's states instead of the default pose")
    r.add_argument("--append", type=Path, metavar="LIBRARY", help="write this library's states followed by the new ones")
    r.add_argument("--keys", type=Path, help="teleop: a key script (text, one key or 'key*N' per token)")
    r.add_argument("--waypoints", type=Path, help="teleop: a waypoint script (YAML, hand targets relative to the object)")
    r.add_argument("--every-s", type=float, default=0.25, help="keep one state per this many seconds (default 0.25)")
    r.add_argument("--mirror", action="store_true", help="also add the left-right mirror image of every state")
    r.add_argument("--force", action="store_true")
    r.set_defaults(func=cmd_init_record)
    f = isub.add_parser(
        "frontier", help="handover: a library's states at hand B's frontier (B about to grasp, or both hands on the object)",
        description="From a handover library with lead hands and stages (e.g. init record --handoff): the states at "
        "stage 2 with hand B's fingertip centre within --b-within of its stickers, and those at stage 3 in which hand A "
        "still touches the object. Hand B's drill starts there (init.library in its config).")
    f.add_argument("library", help="a library file or a shipped library's name (e.g. handover_bar)")
    f.add_argument("--out", type=Path, required=True, help="library file (.npz)")
    f.add_argument("--config", type=Path, help="handover config whose object and sticker patterns define B's stickers "
                   "(e.g. config/handover_bar.yaml)")
    f.add_argument("--b-within", type=float, default=0.10, help="metres (default 0.10)")
    f.add_argument("--force", action="store_true")
    f.set_defaults(func=cmd_init_frontier)
    s = isub.add_parser("show", help="summarize an init-state library")
    s.add_argument("library", type=Path)
    s.set_defaults(func=cmd_init_show)


def add_demos_parser(sub) -> None:
    p = sub.add_parser("demos", help="demonstrations for training: record and inspect demonstration sets")
    dsub = p.add_subparsers(dest="demos_command", metavar="{record,show}")
    dsub.required = True
    r = dsub.add_parser(
        "record", help="handover: scripted handoffs, or hand B waiting, recorded as the actor's observations and actions",
        description="--handoff LIBRARY: runs scripted handoffs (as init record --handoff: hand A holds the object by "
        "one end with a grasp from LIBRARY's one-hand states, hand B takes the other end, A lets go, B carries it to "
        "the final goal) inside the task's environment, each script target turned into the env's relative actions, "
        "and records the actor's observation and action at every control step of the episodes the env counts a "
        "success. --wait CHECKPOINT: that checkpoint's actor does hand A's part from nominal resets while hand B "
        "executes noise (--b-noise); the steps before the intermediate goal are recorded, B's action as the one that "
        "brings it back to its default pose. dexmani train --demos uses them.")
    r.add_argument("--task", required=True, help="handover")
    kind = r.add_mutually_exclusive_group(required=True)
    kind.add_argument("--handoff", dest="library", type=Path, metavar="LIBRARY",
                      help="a library with one-hand grasps of the task's object (e.g. the shipped handover_bar)")
    kind.add_argument("--wait", type=Path, metavar="CHECKPOINT_OR_TASK",
                      help="the actor for hand A's part (a checkpoint, or a task name for its shipped specialist, "
                      "e.g. grasp_and_reach)")
    r.add_argument("--config", type=Path, help="the task config of the training that will use them (its object and "
                   "observation options; e.g. config/handover_bar.yaml)")
    r.add_argument("--episodes", type=int, default=256, help="scripted handoffs to try, or episodes of waiting "
                   "(default 256)")
    r.add_argument("--hold-check", type=int, default=100, metavar="STEPS",
                   help="refuse handoffs whose grasp lets the object sink 2 cm while A holds it still this many "
                   "control steps (default 100; 0: no check)")
    r.add_argument("--b-noise", type=float, default=0.5, metavar="STD",
                   help="--wait: hand B executes Gaussian action noise of this std while the recorded actions bring it "
                   "back to its default pose (default 0.5; 0: B holds still)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", type=Path, required=True, help="demonstration set (.npz)")
    r.add_argument("--force", action="store_true")
    r.set_defaults(func=cmd_demos_record)
    s = dsub.add_parser("show", help="summarize a demonstration set")
    s.add_argument("demos", type=Path)
    s.set_defaults(func=cmd_demos_show)


def cmd_demos_record(args) -> int:
    from .demos import record_handoff_demos, record_wait_demos
    from .handoff import HandoffConfig
    from .init_library import library_path
    from .rl.train import make_task_config
    from .tasks import task_names

    if args.task not in task_names():
        raise ValueError(f"unknown task {args.task!r}; valid tasks: {task_names()}")
    if args.out.exists() and not args.force:  # before the simulation, not after it
        raise FileExistsError(f"{args.out} exists; pass --force to overwrite it")
    cfg = make_task_config(args.task, args.config, {})
    progress = sys.stderr.isatty()
    if args.wait:
        demos, _ = record_wait_demos(actor_source(str(args.wait)), cfg, args.episodes, args.seed, b_noise=args.b_noise,
                                     progress=progress)
    else:
        demos, _ = record_handoff_demos(library_path(args.library), cfg, args.episodes, args.seed,
                                        handoff_cfg=HandoffConfig(hold_check_steps=args.hold_check), progress=progress)
    demos.save(args.out, force=args.force)
    print(json.dumps({"out": str(args.out), **demos.summary()}, indent=2))
    return 0


def cmd_demos_show(args) -> int:
    from .demos import DemoSet

    print(json.dumps(DemoSet.load(args.demos).summary(), indent=2))
    return 0


def _task_overrides(args) -> dict:
    over: dict = {}
    if args.objects:
        over["objects"] = args.objects
    if args.num_envs:
        over["num_envs"] = args.num_envs
    if args.physics:
        if not args.physics.is_file():
            raise FileNotFoundError(f"physics file {args.physics} does not exist")
        over["physics"] = str(args.physics)
    init: dict = {}
    if args.init_library:
        init["library"] = str(args.init_library)
    if args.init_probability is not None:
        init["probability"] = args.init_probability
    if args.no_init:
        init["use_library"] = False
    if init:
        over["init"] = init
    if args.no_randomization:
        over["randomization"] = {"enabled": []}
    return over


def cmd_train(args) -> int:
    from dataclasses import replace

    if args.iterations is not None and args.iterations < 0:
        raise ValueError(f"--iterations must be >= 0, got {args.iterations}")

    from .rl.train import Trainer, TrainConfig, default_run_dir, make_task_config, read_train_config
    from .tasks import task_names

    if args.task not in task_names():
        raise ValueError(f"unknown task {args.task!r}; valid tasks: {task_names()}")
    run_dir = args.run_dir or default_run_dir(args.task, args.name)
    if args.resume:
        init = {k: v for k, v in (("library", args.init_library and str(args.init_library)),
                                   ("probability", args.init_probability)) if v is not None}
        trainer = Trainer(run_dir, None, None, 0, resume=True, progress=not args.quiet, resume_init=init or None,
                          resume_device=args.device)
        if trainer.cfg.task != args.task:
            raise ValueError(f"{run_dir} is a {trainer.cfg.task} run, not {args.task}")
        if args.max_minutes is not None:
            trainer.train = replace(trainer.train, max_minutes=args.max_minutes)
        target = args.iterations if args.iterations is not None else trainer.train.iterations
    else:
        cfg = make_task_config(args.task, args.config, _task_overrides(args))
        train = read_train_config(args.config) if args.config else TrainConfig()  # the file's train: section
        if args.iterations is not None:  # 0: no PPO iteration, e.g. a checkpoint of the warm-started actor
            train = replace(train, iterations=args.iterations)
        if args.max_minutes is not None:
            train = replace(train, max_minutes=args.max_minutes)
        if args.save_interval:
            train = replace(train, save_interval=args.save_interval)
        if args.threads:
            train = replace(train, num_threads=args.threads, torch_threads=args.threads)
        if args.device:
            train = replace(train, device=args.device)
        if args.randomization_ramp is not None:
            ramp = int(args.randomization_ramp)
            train = replace(train, randomization_curriculum="linear" if ramp > 0 else "off", randomization_ramp_env_steps=ramp)
        if args.randomization_curriculum:
            train = replace(train, randomization_curriculum=args.randomization_curriculum)
        if args.actor_from:
            train = replace(train, actor_from=str(actor_source(args.actor_from)),
                            critic_warmup_iterations=25 if args.critic_warmup is None else args.critic_warmup)
        elif args.critic_warmup is not None:
            train = replace(train, critic_warmup_iterations=args.critic_warmup)
        if args.actor_from_noise_scale is not None:
            train = replace(train, actor_from_noise_scale=args.actor_from_noise_scale)
        if args.with_critic:
            train = replace(train, actor_from_with_critic=True)
        if (args.demo_weight is not None or args.demo_pretrain is not None) and not (args.demos or train.demos):
            raise ValueError("--demo-weight and --demo-pretrain use demonstrations: give them with --demos")
        if args.demos:
            train = replace(train, demos=tuple(str(d) for d in args.demos))
        if args.demo_weight is not None:
            train = replace(train, ppo=replace(train.ppo, demo_weight=args.demo_weight))
        if args.demo_pretrain is not None:
            train = replace(train, demo_pretrain_epochs=args.demo_pretrain)
        trainer = Trainer(run_dir, cfg, train, args.seed, force=args.force, progress=not args.quiet)
        target = train.iterations
    print(f"run directory: {run_dir}", file=sys.stderr)
    summary = trainer.run(target)
    print(json.dumps({k: summary[k] for k in summary if not k.startswith(("loss/", "term/"))}, indent=2))
    return 0


def resolve_checkpoint(path: Path | None, task: str) -> Path:
    if path is None:
        p = shipped_checkpoint(task)
        if not p.is_file():
            raise FileNotFoundError(f"no shipped checkpoint for task {task!r} ({p}); pass --checkpoint")
        return p
    if path.is_dir():
        latest = path / "latest.pt"
        if not latest.is_file():
            raise FileNotFoundError(f"{path} has no latest.pt checkpoint")
        return latest
    return path


def cmd_eval(args) -> int:
    from .rl.evaluate import evaluate
    from .tasks import task_names

    if args.task not in task_names():
        raise ValueError(f"unknown task {args.task!r}; valid tasks: {task_names()}")
    if args.objects:
        from gr1_sim.objects import OBJECT_GROUPS, OBJECTS

        if args.objects not in OBJECT_GROUPS and args.objects not in OBJECTS:
            raise ValueError(f"unknown object group {args.objects!r}; valid groups: {sorted(OBJECT_GROUPS)}, or an object name")
    for flag, value in (("--init-probability", args.init_probability), ("--init-stages", args.init_stages),
                        ("--init-grip-rad", args.init_grip_rad)):
        if value is not None and not args.init_library:
            raise ValueError(f"{flag} applies to resets from an init library; add --init-library")
    if args.assist_hold_a and args.assist_release_after is None:
        raise ValueError("--assist-hold-a holds hand A still until it lets go: add --assist-release-after")
    if args.assist_release_min_contact_b is not None and args.assist_release_trigger != "b_holds":
        raise ValueError("--assist-release-min-contact-b gates the b_holds trigger: add --assist-release-trigger b_holds")
    if args.switch_at_stage is not None and args.switch_to is None:
        raise ValueError("--switch-at-stage names when --switch-to's checkpoint takes over: add --switch-to")
    ckpt = resolve_checkpoint(args.checkpoint, args.task)
    result = evaluate(
        ckpt, args.task, args.episodes, args.objects, args.seed, args.num_envs, not args.no_randomization,
        args.init_library, args.video, args.video_episodes, progress=not args.json, init_probability=args.init_probability,
        task_difficulty=args.task_difficulty, stochastic=args.stochastic,
        assist_release_after_s=args.assist_release_after, assist_release_trigger=args.assist_release_trigger,
        assist_hold_a=args.assist_hold_a, assist_release_min_contact_b=args.assist_release_min_contact_b,
        init_stages=args.init_stages, init_grip_rad=args.init_grip_rad,
        switch_to=args.switch_to and resolve_checkpoint(args.switch_to, args.task),
        switch_at_stage=2 if args.switch_at_stage is None else args.switch_at_stage,
    )
    text = json.dumps(result, indent=None if args.json else 2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def cmd_ship(args) -> int:
    from .rl.evaluate import slim_checkpoint
    from .tasks import task_names

    if args.task not in task_names():
        raise ValueError(f"unknown task {args.task!r}; valid tasks: {task_names()}")
    src = resolve_checkpoint(args.checkpoint, args.task)
    out = args.out or shipped_checkpoint(args.task)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to replace it")
    path = slim_checkpoint(src, out, args.task, args.note)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) from {src}")
    return 0


def cmd_init_record(args) -> int:
    from .tasks import task_names

    if args.task not in task_names():
        raise ValueError(f"unknown task {args.task!r}; valid tasks: {task_names()}")
    if args.out.exists() and not args.force:
        raise FileExistsError(f"{args.out} exists; pass --force to overwrite it")
    if not args.teleop and (args.keys or args.waypoints):
        raise ValueError("--keys and --waypoints drive --teleop; they do not apply to --bag, --policy, --handoff or --release")
    if not args.policy and (args.stage or args.from_library or args.stochastic):
        raise ValueError("--stage, --from-library and --stochastic select policy rollouts; they need --policy")
    if (args.handoff or args.release) and args.mirror:
        raise ValueError(f"--{'handoff' if args.handoff else 'release'} already makes both directions (every handoff "
                         "and its mirror image); drop --mirror")
    if args.bag:
        from .init_record import library_from_bag

        lib = library_from_bag(args.bag, args.task, args.joint_topic, args.object_topic, args.every_s)
    elif args.handoff:
        from .handoff import library_from_handoffs

        lib = library_from_handoffs(args.handoff, args.task, args.object, args.episodes, args.every_s, args.seed,
                                    args.min_height, progress=sys.stderr.isatty())
    elif args.release:
        from .handoff import library_from_releases

        lib = library_from_releases(args.release, args.task, args.object, args.episodes, args.every_s, args.seed,
                                    progress=sys.stderr.isatty())
    elif args.policy:
        from .init_policy import library_from_policy

        lib = library_from_policy(args.policy, args.task, args.object, args.episodes, args.every_s, args.min_height, args.seed,
                                  progress=sys.stderr.isatty(), stage=args.stage, from_library=args.from_library,
                                  stochastic=args.stochastic)
    else:
        from .teleop import run_teleop

        lib = run_teleop(args.task, args.object, args.keys, args.every_s, args.waypoints)
    if args.mirror:
        lib = lib.concat(lib.mirrored())
    if args.append:
        from .init_library import InitLibrary

        lib = InitLibrary.load(args.append).concat(lib)
    lib.save(args.out, force=args.force)
    print(f"{len(lib)} states -> {args.out}")
    return 0


def cmd_init_frontier(args) -> int:
    from .handoff import hand_b_frontier
    from .init_library import load_task_library
    from .rl.train import make_task_config

    if args.out.exists() and not args.force:  # before the simulation, not after it
        raise FileExistsError(f"{args.out} exists; pass --force to overwrite it")
    cfg = make_task_config("handover", args.config, {})
    lib = hand_b_frontier(load_task_library("handover", args.library), cfg, args.b_within)
    lib.save(args.out, force=args.force)
    print(json.dumps({"out": str(args.out), "states": len(lib), **lib.meta["hand_b_frontier"]}))
    return 0


def cmd_init_show(args) -> int:
    import numpy as np

    from .init_library import InitLibrary

    lib = InitLibrary.load(args.library)
    pos = lib.object_pose[:, :3]
    print(json.dumps({
        "states": len(lib), "meta": lib.meta,
        "object_position_min": np.round(pos.min(0), 3).tolist(), "object_position_max": np.round(pos.max(0), 3).tolist(),
        "lead_hand": {name: int(np.sum(lib.lead_hand == v)) for name, v in (("left", 0), ("right", 1), ("not_known", -1))},
        "stage": {("not_known" if v < 0 else str(v)): int(c) for v, c in zip(*np.unique(lib.stage, return_counts=True))},
    }, indent=2))
    return 0
