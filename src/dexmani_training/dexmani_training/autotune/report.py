"""The autotune report: an HTML page with PNGs that a person reads.

Per joint: measured ("real") vs simulated with the initial physics ("before") vs simulated with
the tuned physics ("after"), over the whole recording (training part, then the held-out
validation part) and zoomed into a few seconds of the validation part. Then the MSE table per
joint, the parameters before → after, the search stages and the data-quality counts.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

import numpy as np

from gr1_description import joints as jt

from .tune import AutotuneResult

GROUPS = (
    ("left_arm", [j.name for j in jt.select("left", "arm")]),
    ("left_hand", [j.name for j in jt.select("left", "hand")]),
    ("right_arm", [j.name for j in jt.select("right", "arm")]),
    ("right_hand", [j.name for j in jt.select("right", "hand")]),
    ("mimic", list(jt.mimic_names())),
)
COLORS = {"real": "black", "before": "tab:red", "after": "tab:blue"}


def _zoom_window(val_t: np.ndarray, meas: np.ndarray, zoom_s: float) -> tuple[float, float]:
    """The ``zoom_s`` window of the validation part with the most motion."""
    if val_t[-1] <= zoom_s:
        return float(val_t[0]), float(val_t[-1])
    speed = np.abs(np.diff(meas, axis=0)).sum(axis=1)
    n = max(1, round(zoom_s / (val_t[1] - val_t[0])))
    score = np.convolve(speed, np.ones(n), mode="valid")
    i = int(np.argmax(score))
    return float(val_t[i]), float(val_t[min(i + n, val_t.size - 1)])


def plot_group(result: AutotuneResult, names: list[str], path: Path, zoom_s: float = 6.0, dpi: int = 80) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ch = [result.channel_names.index(n) for n in names]
    tr, va = result.train, result.validation
    offset = tr.t_s[-1]
    t_all = np.concatenate([tr.t_s, offset + va.t_s])
    meas_tr = _measured(tr)
    meas_va = _measured(va)
    z0, z1 = _zoom_window(va.t_s, meas_va[:, ch], zoom_s)
    zsel = (va.t_s >= z0) & (va.t_s <= z1)
    fig, axes = plt.subplots(len(names), 3, figsize=(16, 1.55 * len(names) + 0.6), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1, 2]})
    m = result.mse
    for row, (name, c) in enumerate(zip(names, ch)):
        ax, az, ae = axes[row]
        series = {
            "real": np.concatenate([meas_tr[:, c], meas_va[:, c]]),
            "before": np.concatenate([result.sim["before_train"][:, c], result.sim["before_validation"][:, c]]),
            "after": np.concatenate([result.sim["after_train"][:, c], result.sim["after_validation"][:, c]]),
        }
        for key, y in series.items():
            ax.plot(t_all, y, color=COLORS[key], lw=0.8 if key != "real" else 1.2, label=key, alpha=0.9)
            part = {"real": meas_va[:, c], "before": result.sim["before_validation"][:, c],
                    "after": result.sim["after_validation"][:, c]}[key]
            az.plot(va.t_s[zsel] + offset, part[zsel], color=COLORS[key], lw=1.0 if key != "real" else 1.4)
        for key in ("before", "after"):
            ae.plot(t_all, 1000.0 * (series[key] - series["real"]), color=COLORS[key], lw=0.7)
        ae.axvspan(offset, t_all[-1], color="0.92", zorder=0)
        ae.axhline(0.0, color="0.5", lw=0.5)
        ae.tick_params(labelsize=6)
        ae.set_xlim(t_all[0], t_all[-1])
        ax.axvspan(offset, t_all[-1], color="0.92", zorder=0)
        ax.set_ylabel(name.replace("_joint", ""), fontsize=7, rotation=0, ha="right", va="center")
        ax.tick_params(labelsize=6)
        az.tick_params(labelsize=6)
        ax.set_title(
            f"MSE train {m['before_train'][c]:.2e} → {m['after_train'][c]:.2e}   "
            f"validation {m['before_validation'][c]:.2e} → {m['after_validation'][c]:.2e} rad²",
            fontsize=7, loc="left")
        ax.set_xlim(t_all[0], t_all[-1])
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=3)
    axes[0, 1].set_title(f"validation zoom {z0 + offset:.1f}-{z1 + offset:.1f} s", fontsize=7)
    axes[-1, 0].set_xlabel("time (s); grey: held-out validation part", fontsize=7)
    axes[-1, 1].set_xlabel("time (s)", fontsize=7)
    axes[0, 2].set_title("simulated − real (mrad)", fontsize=7)
    axes[-1, 2].set_xlabel("time (s)", fontsize=7)
    fig.tight_layout()
    _save(fig, path, dpi)
    plt.close(fig)


def plot_mse(result: AutotuneResult, path: Path, dpi: int = 80) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n.replace("_joint", "") for n in result.channel_names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(13, 3.6))
    w = 0.2
    for i, (key, label, color) in enumerate((("before_train", "before (train)", "tab:red"),
                                              ("after_train", "after (train)", "tab:blue"),
                                              ("before_validation", "before (validation)", "salmon"),
                                              ("after_validation", "after (validation)", "lightskyblue"))):
        ax.bar(x + (i - 1.5) * w, result.mse[key], w, label=label, color=color)
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=80, fontsize=6)
    ax.set_ylabel("tracking MSE (rad²)")
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    _save(fig, path, dpi)
    plt.close(fig)


def _measured(rec) -> np.ndarray:
    return rec.q_rad if rec.mimic_q_rad is None else np.concatenate([rec.q_rad, rec.mimic_q_rad], axis=1)


def _readable(tmp: str) -> None:
    """mkstemp creates 0600 files; give the result the permissions a normal open() would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


def _save(fig, path: Path, dpi: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    _readable(tmp)
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_report(result: AutotuneResult, out_dir: str | Path, zoom_s: float = 6.0, dpi: int = 80, force: bool = False) -> Path:
    """Write ``index.html``, ``mse.png`` and one PNG per joint group into ``out_dir``."""
    out = Path(out_dir)
    index = out / "index.html"
    if index.exists() and not force:
        raise FileExistsError(f"{index} exists; pass --force to overwrite the report")
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for group, names in GROUPS:
        names = [n for n in names if n in result.channel_names]
        if not names:
            continue
        plot_group(result, names, out / f"{group}.png", zoom_s, dpi)
        images.append(f"{group}.png")
    plot_mse(result, out / "mse.png", dpi)
    text = _html(result, images)
    fd, tmp = tempfile.mkstemp(prefix=".index.html.", dir=out)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    _readable(tmp)
    os.replace(tmp, index)
    return index


def _details(stage: dict) -> str:
    parts = []
    for k, v in stage.items():
        if k in ("stage", "evaluations", "best_objective", "seconds"):
            continue
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, list) and v:
            v = f"{len(v)} values, {v[0]:.3g} … {v[-1]:.3g}"
        parts.append(f"{k}: {v}")
    return "; ".join(parts)


def _html(result: AutotuneResult, images: list[str]) -> str:
    fit = result.tuned.fit
    e = html.escape
    m = result.mse
    rows = []
    for i, name in enumerate(result.channel_names):
        rows.append(
            f"<tr><td>{e(name)}</td>" + "".join(
                f"<td>{m[k][i]:.3e}</td>" for k in ("before_train", "after_train", "before_validation", "after_validation"))
            + f"<td>{m['before_validation'][i] / max(m['after_validation'][i], 1e-30):.1f}×</td></tr>")
    n = jt.NUM_CONTROLLED
    total = (f"<tr><th>mean of 26 controlled</th><th>{m['before_train'][:n].mean():.3e}</th><th>{m['after_train'][:n].mean():.3e}</th>"
             f"<th>{m['before_validation'][:n].mean():.3e}</th><th>{m['after_validation'][:n].mean():.3e}</th>"
             f"<th>{m['before_validation'][:n].mean() / max(m['after_validation'][:n].mean(), 1e-30):.1f}×</th></tr>")
    prow = []
    for name in jt.joint_names():
        a, b = result.initial.joints[name], result.tuned.joints[name]
        cells = "".join(f"<td>{getattr(a, k):.4g} → <b>{getattr(b, k):.4g}</b></td>"
                        for k in ("kp", "kd", "armature", "damping", "frictionloss", "effort"))
        prow.append(f"<tr><td>{e(name)}</td>{cells}</tr>")
    mrow = "".join(f"<tr><td>{e(k)}</td><td>{result.initial.mimic[k].k:.4g} → <b>{v.k:.4g}</b></td>"
                   f"<td>{result.initial.mimic[k].b:.4g} → <b>{v.b:.4g}</b></td></tr>" for k, v in result.tuned.mimic.items())
    stages = "".join(f"<tr><td>{e(s['stage'])}</td><td>{s['evaluations']}</td><td>{s['best_objective']:.3e}</td>"
                     f"<td>{s['seconds']:.1f}</td><td>{e(_details(s))}</td></tr>" for s in result.trace.stages)
    notes = "".join(f"<li>{e(x)}</li>" for x in fit.get("notes", []))
    data = e(str(fit.get("data", {})))
    imgs = "".join(f'<h3>{e(i[:-4])}</h3><img src="{e(i)}" style="max-width:100%">' for i in images)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>dexmani autotune report</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1300px}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} td:first-child{{text-align:left}}</style></head><body>
<h1>Autotune report</h1>
<p>Bag <code>{e(str(fit.get('bag', '')))}</code>, states <code>{e(str(fit.get('state_topic', '')))}</code>,
commands <code>{e(str(fit.get('command_topic', '')))}</code> ({e(str(fit.get('command_type', '')))}).
Metric: {e(str(fit.get('metric', '')))}.</p>
<p><b>Training MSE {fit['mse_before']:.3e} → {fit['mse_after']:.3e} rad²
({fit['mse_before'] / max(fit['mse_after'], 1e-30):.1f}×); validation {fit['mse_validation_before']:.3e} →
{fit['mse_validation_after']:.3e} rad² ({fit['mse_validation_before'] / max(fit['mse_validation_after'], 1e-30):.1f}×).</b>
Latency: tuned {result.tuned.latency_s * 1000:.1f} ms (cross-correlation estimate {fit['latency_estimate_s'] * 1000:.1f} ms;
command → motion lag including the controller's own lag {fit['apparent_command_lag_s'] * 1000:.1f} ms).
Initial physics: {e(str(fit.get('initial_physics', '')))}.</p>
<h2>Tracking error per joint (rad²)</h2>
<img src="mse.png" style="max-width:100%">
<table><tr><th>joint</th><th>before (train)</th><th>after (train)</th><th>before (validation)</th><th>after (validation)</th><th>validation gain</th></tr>
{''.join(rows)}{total}</table>
<h2>Trajectories: real (black), before (red), after (blue)</h2>
{imgs}
<h2>Parameters (initial → tuned)</h2>
<table><tr><th>joint</th><th>kp</th><th>kd</th><th>armature</th><th>damping</th><th>frictionloss</th><th>effort</th></tr>{''.join(prow)}</table>
<table style="margin-top:1em"><tr><th>mimic joint</th><th>k</th><th>b</th></tr>{mrow}</table>
<h2>Search</h2>
<table><tr><th>stage</th><th>rollouts</th><th>best objective (rad²)</th><th>s</th><th>details</th></tr>{stages}</table>
<h2>Data</h2><p><code>{data}</code></p>
<h2>Identifiability</h2><ul>{notes}</ul>
</body></html>
"""
