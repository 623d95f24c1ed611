"""Search: the paper's random search over K candidates, then a block-wise CMA-ES refinement.

Both stages exploit the structure of the problem (see :mod:`.params`): each joint is held by its
own PD controller, so its tracking error depends mostly on its own parameters. One batch of K
rollouts therefore scores every block of coordinates separately on its own joints.

* **Random search.** K candidates drawn uniformly in the unit cube (candidate 0 is the initial
  physics), latency held at its estimate. Besides the paper's "keep the lowest total MSE", the
  best candidate *per block* is assembled into one parameter set; the better of the two wins.
* **Latency.** A 1-D grid search of the global latency at fixed joint parameters (one batch),
  refined by a parabola through the best grid points.
* **CMA-ES.** One small CMA-ES per block (a few dimensions each), all sampled into the same
  λ candidates per generation; each block ranks its samples by the MSE of its own joints.
  Samples outside the unit cube are mirrored back inside. The result is the assembled block
  means, the best single candidate or the starting point, whichever has the lowest MSE. In the
  first part of the generations every joint block also carries its own latency offset; their
  median then moves the global latency (:func:`refine_with_latency_offsets`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .config import SearchConfig
from .params import ParamSpace

Evaluate = Callable[[np.ndarray], np.ndarray]  # (K, dim) unit vectors → (K, channels) MSE


@dataclass
class SearchTrace:
    """What the search did, for the report and the benchmarks."""

    stages: list[dict] = field(default_factory=list)

    def add(self, stage: str, evaluations: int, best_objective: float, seconds: float, **extra) -> None:
        self.stages.append({"stage": stage, "evaluations": int(evaluations), "best_objective": float(best_objective),
                            "seconds": float(seconds), **extra})


def objective(mse: np.ndarray) -> np.ndarray:
    """The search objective: mean MSE over all measured joints (rad²)."""
    return np.mean(mse, axis=-1)


def random_search(space: ParamSpace, evaluate: Evaluate, u_start: np.ndarray, population: int,
                  rng: np.random.Generator, trace: SearchTrace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The paper's random search plus per-block assembly; returns (u, its per-channel MSE)."""
    t0 = time.perf_counter()
    u = rng.uniform(size=(population, space.dim))
    u[0] = u_start
    if space.latency_index is not None:
        u[:, space.latency_index] = u_start[space.latency_index]
    mse = evaluate(u)
    tot = objective(mse)
    best = int(np.argmin(tot))
    assembled = u[best].copy()
    for idx, ch in space.blocks:
        i = int(np.argmin(mse[:, ch].sum(axis=1)))
        assembled[idx] = u[i, idx]
    mse_a = evaluate(assembled[None])[0]
    if objective(mse_a) < tot[best]:
        result, result_mse, how = assembled, mse_a, "assembled per block"
    else:
        result, result_mse, how = u[best].copy(), mse[best], "best single candidate"
    if trace is not None:
        trace.add("random", population + 1, objective(result_mse), time.perf_counter() - t0,
                  best_single=float(tot[best]), assembled=float(objective(mse_a)), chosen=how,
                  initial=float(tot[0]))
    return result, result_mse


def latency_search(space: ParamSpace, evaluate: Evaluate, u: np.ndarray, u_mse: np.ndarray, centre_s: float,
                   half_width_s: float, points: int, trace: SearchTrace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grid search of the latency around ``centre_s`` at fixed joint parameters."""
    if space.latency_index is None:
        return u, u_mse
    t0 = time.perf_counter()
    c = space.coords[space.latency_index]
    grid = np.unique(np.clip(centre_s + np.linspace(-half_width_s, half_width_s, points), c.lo, c.hi))
    cand = np.stack([space.with_latency(u, g) for g in grid])
    mse = evaluate(cand)
    tot = objective(mse)
    k = int(np.argmin(tot))
    best_u, best_mse = cand[k], mse[k]
    if 0 < k < grid.size - 1:  # parabola through the best point and its neighbours
        x, y = grid[k - 1 : k + 2], tot[k - 1 : k + 2]
        denom = (x[0] - x[1]) * (x[0] - x[2]) * (x[1] - x[2])
        a = (x[2] * (y[1] - y[0]) + x[1] * (y[0] - y[2]) + x[0] * (y[2] - y[1])) / denom
        b = (x[2] ** 2 * (y[0] - y[1]) + x[1] ** 2 * (y[2] - y[0]) + x[0] ** 2 * (y[1] - y[2])) / denom
        if a > 0:
            vertex = float(np.clip(-b / (2 * a), x[0], x[2]))
            uv = space.with_latency(u, vertex)
            mv = evaluate(uv[None])[0]
            if objective(mv) < tot[k]:
                best_u, best_mse = uv, mv
    if objective(u_mse) <= objective(best_mse):
        best_u, best_mse = u, u_mse
    if trace is not None:
        trace.add("latency", grid.size + 1, objective(best_mse), time.perf_counter() - t0,
                  latency_s=float(space.decode(best_u).latency_s))
    return best_u, best_mse


class BlockCMA:
    """CMA-ES (μ/μ_w, λ) with full covariance for one small block, in the unit cube."""

    def __init__(self, mean: np.ndarray, sigma: float, lam: int, rng: np.random.Generator):
        n = mean.size
        self.n, self.lam, self.rng = n, lam, rng
        self.mean = np.asarray(mean, dtype=float).copy()
        self.sigma = float(sigma)
        self.mu = lam // 2
        w = np.log(self.mu + 0.5) - np.log(np.arange(1, self.mu + 1))
        self.w = w / w.sum()
        self.mueff = 1.0 / np.sum(self.w**2)
        self.cc = (4 + self.mueff / n) / (n + 4 + 2 * self.mueff / n)
        self.cs = (self.mueff + 2) / (n + self.mueff + 5)
        self.c1 = 2 / ((n + 1.3) ** 2 + self.mueff)
        self.cmu = min(1 - self.c1, 2 * (self.mueff - 2 + 1 / self.mueff) / ((n + 2) ** 2 + self.mueff))
        self.damps = 1 + 2 * max(0.0, np.sqrt((self.mueff - 1) / (n + 1)) - 1) + self.cs
        self.chi_n = np.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n**2))
        self.pc, self.ps = np.zeros(n), np.zeros(n)
        self.C = np.eye(n)
        self.B, self.D = np.eye(n), np.ones(n)
        self.generation = 0

    def ask(self) -> np.ndarray:
        z = self.rng.standard_normal((self.lam, self.n))
        x = self.mean + self.sigma * (z * self.D) @ self.B.T
        x = np.abs(x)  # mirror into [0, 1]
        x = np.where(x > 1.0, 2.0 - x, x)
        return np.clip(x, 0.0, 1.0)

    def tell(self, x: np.ndarray, fitness: np.ndarray) -> None:
        fitness = np.where(np.isfinite(fitness), fitness, np.inf)
        order = np.argsort(fitness)[: self.mu]
        old = self.mean
        sel = x[order]
        self.mean = self.w @ sel
        y = (self.mean - old) / self.sigma
        inv_sqrt = self.B @ np.diag(1 / self.D) @ self.B.T
        self.ps = (1 - self.cs) * self.ps + np.sqrt(self.cs * (2 - self.cs) * self.mueff) * inv_sqrt @ y
        self.generation += 1
        hsig = np.linalg.norm(self.ps) / np.sqrt(1 - (1 - self.cs) ** (2 * self.generation)) / self.chi_n < 1.4 + 2 / (self.n + 1)
        self.pc = (1 - self.cc) * self.pc + hsig * np.sqrt(self.cc * (2 - self.cc) * self.mueff) * y
        art = (sel - old) / self.sigma
        self.C = ((1 - self.c1 - self.cmu) * self.C
                  + self.c1 * (np.outer(self.pc, self.pc) + (1 - hsig) * self.cc * (2 - self.cc) * self.C)
                  + self.cmu * (art.T * self.w) @ art)
        self.sigma = float(min(0.5, self.sigma * np.exp((self.cs / self.damps) * (np.linalg.norm(self.ps) / self.chi_n - 1))))
        self.C = 0.5 * (self.C + self.C.T)
        evals, vecs = np.linalg.eigh(self.C)
        self.D = np.sqrt(np.maximum(evals, 1e-20))
        self.B = vecs


def refine_with_latency_offsets(base: ParamSpace, offset_space: ParamSpace, evaluate_offsets: Evaluate,
                                evaluate: Evaluate, u: np.ndarray, u_mse: np.ndarray, cfg: SearchConfig,
                                rng: np.random.Generator, trace: SearchTrace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CMA-ES with a per-joint latency offset in every joint block, then the median offset
    moves the global latency and the offsets are dropped. Latency and inertia trade off along
    a narrow valley: a global latency changed alone, or one joint's armature changed alone,
    both make the fit worse, so block-wise steps with a global latency stall in the valley.
    With its own offset each joint can walk along it; the joints then agree on one latency."""
    t0 = time.perf_counter()
    u_off = np.concatenate([u, offset_space.u0[base.dim :]])
    u_off, _ = cmaes_refine(offset_space, evaluate_offsets, u_off, u_mse, cfg, rng, None,
                            generations=cfg.cma_offset_generations, stage="cmaes_offsets")
    offsets = offset_space.latency_offsets(u_off)
    shift = float(np.median(offsets))
    latency = base.decode(u_off[: base.dim]).latency_s + shift
    cand = base.with_latency(u_off[: base.dim], latency)
    mse = evaluate(cand[None])[0]
    chosen = "offsets folded into the latency"
    if objective(mse) > objective(u_mse):
        cand, mse, chosen = u, u_mse, "start"
    if trace is not None:
        trace.add("cmaes_offsets", cfg.cma_offset_generations * cfg.cma_population + 2, objective(mse),
                  time.perf_counter() - t0, chosen=chosen, median_offset_s=shift,
                  offset_spread_s=float(np.percentile(offsets, 75) - np.percentile(offsets, 25)))
    return cand, mse


def cmaes_refine(space: ParamSpace, evaluate: Evaluate, u_start: np.ndarray, u_start_mse: np.ndarray,
                 cfg: SearchConfig, rng: np.random.Generator, trace: SearchTrace | None = None,
                 generations: int | None = None, stage: str = "cmaes") -> tuple[np.ndarray, np.ndarray]:
    """Block-wise CMA-ES from ``u_start``; never returns a point worse than the start."""
    t0 = time.perf_counter()
    lam = cfg.cma_population
    generations = cfg.cma_generations if generations is None else generations
    es = [BlockCMA(u_start[idx], cfg.cma_sigma0, lam, rng) for idx, _ in space.blocks]
    best_u, best_mse = u_start.copy(), u_start_mse
    evals = 0
    curve = []  # best objective so far, per generation
    for _ in range(generations):
        u = np.tile(u_start, (lam, 1))
        for e, (idx, _) in zip(es, space.blocks):
            u[:, idx] = e.ask()
        mse = evaluate(u)
        evals += lam
        for e, (idx, ch) in zip(es, space.blocks):
            e.tell(u[:, idx], mse[:, ch].sum(axis=1))
        tot = objective(mse)
        k = int(np.argmin(tot))
        if tot[k] < objective(best_mse):
            best_u, best_mse = u[k].copy(), mse[k]
        curve.append(float(objective(best_mse)))
    how = "start"
    if generations > 0:
        mean_u = u_start.copy()
        for e, (idx, _) in zip(es, space.blocks):
            mean_u[idx] = e.mean
        mean_mse = evaluate(mean_u[None])[0]
        evals += 1
        if objective(mean_mse) < objective(best_mse):
            best_u, best_mse, how = mean_u, mean_mse, "block means"
        elif not np.array_equal(best_u, u_start):
            how = "best single candidate"
    if trace is not None:
        trace.add(stage, evals, objective(best_mse), time.perf_counter() - t0, chosen=how,
                  best_per_generation=curve, median_final_sigma=float(np.median([e.sigma for e in es])) if es else 0.0)
    return best_u, best_mse
