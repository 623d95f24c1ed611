"""rsl_rl's PPO plus an optional bound on the actor's mean action (``action_bound``).

Why: the environment clips every action to [−1, 1], but nothing keeps the Gaussian policy's
*mean* inside that box. Once a mean drifts well past the clip, every sample PPO draws is clipped
to the same action, the action's effect no longer varies with the sample, so its advantage no
longer says which way to move the mean: the joint is frozen at that end, for good. With the
relative hand actions this freezes a finger at a joint limit. Measured on a handover checkpoint
(``benchmarks/action_saturation.py``): in its two-hand holds hand B's thumb means sat at a median
of +3.1 and −2.7 (standard deviations 1.2 and 0.9), so B's thumb stayed wide open while its
other fingers curled, and no training sample ever tried to close it.

The bound is a penalty, after each PPO update, on the means that leave [−``action_bound``,
``action_bound``]:

    L_bound = mean over samples of Σ_j max(|μ_j(o)| − action_bound, 0)²

minimized over the rollout's observations in ``num_mini_batches`` shuffled minibatches (one pass,
its own Adam optimizer at PPO's current learning rate, gradients clipped at ``max_grad_norm``).
Adam's steps do not depend on the loss's scale, so the penalty has no weight to tune: each
iteration moves the outside means back by about as much as one of PPO's own minibatch steps
moves the policy. It only acts on means outside the box, so a policy whose means stay inside is
trained exactly as by PPO, and with ``action_bound`` None (the default) this *is* rsl_rl's PPO.
The penalty is a separate step, not a term of PPO's own loss, because rsl_rl's update computes
its loss inside one method; the step's optimizer state is saved with the checkpoint so that
``--resume`` continues it exactly.

A policy trained without the bound may sit far outside it (the handover checkpoint above: 84% of
its means past ±1, some by up to 68). The penalty alone then pulls several units out of the
network's outputs within a few iterations and drags the rest of its outputs along: runs
warm-started from that checkpoint lost the whole task within 0.15 M steps.
:meth:`BoundedPPO.fit_inside` therefore first brings a warm-started actor inside by regression,
without changing what it does: its means are fitted to its own clipped means
clip(μ₀(o), −bound, bound) over observations of its own rollouts, which the environment's clip
turns into the same actions wherever the bound is 1 (see ``Trainer``). That fitted actor
collapsed under PPO as well, with or without the bound, while the saturated original did not:
saturation had made it insensitive to PPO's steps.

**Demonstrations** (``set_demos``; ``ppo.demo_weight``, ``ppo.demo_decay``): after PPO's update
(and the bound's step), ``num_mini_batches`` Adam steps on the demonstrations' action error

    L_demo = mean over demonstration samples of Σ_j (μ_j(o) − a_j)²

(where a demonstrated action is at the env's clip, ±1, only a mean short of it counts: one
beyond it is the same action after the clip; with ``demo_indices`` only those actions count)

at PPO's learning rate × demo_weight · demo_decay^k, k the number of updates so far, on
minibatches of PPO's minibatch size drawn from the demonstrations (the mean network only; the
noise is PPO's). As with the bound, the step has its own optimizer (saved with the checkpoint,
with k), and since Adam's steps do not depend on the loss's scale the weight acts as a learning-rate
factor: at weight 1 each of its steps is about as large as one of PPO's minibatch steps
(``num_learning_epochs`` × ``num_mini_batches`` of them per update against ``num_mini_batches``),
and smaller as the decay lets PPO's own returns take over. Without demonstrations, or with the
weight 0, nothing changes.

``action_bound_indices`` bounds some joints only (``ppo.action_bound_joints``, e.g. hand B's
thumb). The bound's steps and the fit then move only the output layer's rows of those joints, so
every other action stays exactly what it was, saturated or not.
"""

from __future__ import annotations

import torch
from rsl_rl.algorithms import PPO


class BoundedPPO(PPO):
    def __init__(self, actor, critic, storage, action_bound: float | None = None,
                 action_bound_indices: list[int] | None = None, demo_weight: float = 0.0, demo_decay: float = 1.0,
                 demo_indices: list[int] | None = None, **kwargs):
        """``action_bound_indices``: the action dimensions the bound applies to (None: all)."""
        if action_bound is not None and not action_bound > 0:
            raise ValueError(f"action_bound must be > 0 (or None: off), got {action_bound}")
        super().__init__(actor, critic, storage, **kwargs)
        self.action_bound = None if action_bound is None else float(action_bound)
        n = int(storage.actions.shape[-1])
        self.bound_mask = torch.zeros(n, dtype=torch.bool, device=self.device)
        if action_bound_indices is None:
            self.bound_mask[:] = True
        else:
            if not action_bound_indices or min(action_bound_indices) < 0 or max(action_bound_indices) >= n:
                raise ValueError(f"action_bound_indices must name some of the {n} actions, got {action_bound_indices}")
            self.bound_mask[list(action_bound_indices)] = True
        self.bound_optimizer = (torch.optim.Adam(self._bound_params(), lr=self.learning_rate)
                                if self.action_bound is not None else None)
        if not demo_weight >= 0:
            raise ValueError(f"demo_weight must be >= 0, got {demo_weight}")
        if not 0 < demo_decay <= 1:
            raise ValueError(f"demo_decay must be in (0, 1], got {demo_decay}")
        self.demo_weight, self.demo_decay = float(demo_weight), float(demo_decay)
        self.demo_obs = self.demo_actions = self.demo_optimizer = None
        self.demo_updates = 0  # the k of demo_decay^k
        self.demo_mask = torch.ones(n, device=self.device)  # the actions the demonstrations pull (1) or not (0)
        if demo_indices is not None:
            if not demo_indices or min(demo_indices) < 0 or max(demo_indices) >= n:
                raise ValueError(f"demo_indices must name some of the {n} actions, got {demo_indices}")
            self.demo_mask[:] = 0.0
            self.demo_mask[list(demo_indices)] = 1.0

    @property
    def bounds_all(self) -> bool:
        return bool(self.bound_mask.all())

    def _output_layer(self) -> torch.nn.Linear:
        return [m for m in self._raw_actor.mlp.modules() if isinstance(m, torch.nn.Linear)][-1]

    def _bound_params(self) -> list[torch.nn.Parameter]:
        """What the bound's steps move: the whole mean network when every joint is bounded; with
        some joints only, the output layer alone, of which :meth:`_keep_unbounded_rows` lets only
        those joints' rows change, so that no other action moves at all."""
        if self.bounds_all:
            return [p for name, p in self._raw_actor.named_parameters() if not name.startswith("distribution.")]
        out = self._output_layer()
        return [out.weight, out.bias]

    def _keep_unbounded_rows(self) -> None:
        if not self.bounds_all:
            out = self._output_layer()
            for p in (out.weight, out.bias):
                if p.grad is not None:
                    p.grad[~self.bound_mask] = 0.0

    def bound_penalty(self, mean: torch.Tensor) -> torch.Tensor:
        """Per sample: Σ_j max(|μ_j| − bound, 0)² over the bounded action dimensions."""
        return (torch.clamp(mean.abs() - self.action_bound, min=0.0).pow(2) * self.bound_mask).sum(dim=-1)

    def _outside(self, mean: torch.Tensor) -> torch.Tensor:
        """Bool (samples × bounded dimensions): the bounded means outside the bound."""
        return mean[:, self.bound_mask].abs() > self.action_bound

    def set_demos(self, obs: torch.Tensor, actions: torch.Tensor) -> None:
        """Demonstrations (the actor's observations, N×D, and the actions taken, N×A, in
        [−1, 1]) to pull the actor towards after each update (see the module docstring)."""
        from tensordict import TensorDict

        if obs.ndim != 2 or actions.shape != (obs.shape[0], self.storage.actions.shape[-1]):
            raise ValueError(f"demonstrations need N×D observations and N×{self.storage.actions.shape[-1]} actions, "
                             f"got {tuple(obs.shape)} and {tuple(actions.shape)}")
        n = obs.shape[0]
        self.demo_obs = TensorDict({"policy": obs.to(self.device, torch.float32)}, batch_size=[n])
        self.demo_actions = actions.to(self.device, torch.float32)
        self.demo_optimizer = torch.optim.Adam(self._mean_params(), lr=self.learning_rate)

    def _mean_params(self) -> list[torch.nn.Parameter]:
        return [p for name, p in self._raw_actor.named_parameters() if not name.startswith("distribution.")]

    def demo_loss(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Σ_j e_j², averaged over the demonstrations (or those at ``idx``), with e_j = μ_j(o) − a_j,
        except where the demonstrated action is at the env's clip (|a_j| = 1): a mean beyond it
        gives the same action after the clip, so only the shortfall counts there."""
        obs, act = (self.demo_obs, self.demo_actions) if idx is None else (self.demo_obs[idx], self.demo_actions[idx])
        err = self.actor(obs) - act
        err = torch.where(act >= 1.0 - 1e-6, err.clamp(max=0.0), err)
        err = torch.where(act <= -1.0 + 1e-6, err.clamp(min=0.0), err)
        return (err.pow(2) * self.demo_mask).sum(dim=-1).mean()

    def fit_demos(self, epochs: int, lr: float = 1e-3, batch: int = 1024) -> dict[str, float]:
        """Behaviour cloning before PPO: ``epochs`` passes of Adam (``lr``) over the
        demonstrations in shuffled minibatches of ``batch`` on the demonstration loss (the mean
        network only). Returns the loss over all demonstrations before and after."""
        if self.demo_obs is None:
            raise ValueError("fit_demos needs demonstrations (set_demos)")
        n = self.demo_actions.shape[0]
        with torch.no_grad():
            before = self.demo_loss().item()
        params = self._mean_params()
        opt = torch.optim.Adam(params, lr=lr)
        for _ in range(epochs):
            order = torch.randperm(n, device=self.device)
            for i in range(0, n, batch):
                loss = self.demo_loss(order[i : i + batch])
                self._raw_actor.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
                opt.step()
        with torch.no_grad():
            after = self.demo_loss().item()
        return {"samples": int(n), "epochs": epochs, "demo_loss_before": before, "demo_loss_after": after}

    def update(self) -> dict[str, float]:
        # The actor frozen (the trainer's critic warm-up): PPO's update alone.
        if not any(p.requires_grad for p in self._raw_actor.parameters()):
            return super().update()
        # The rollout's observations, taken before PPO's update clears the storage.
        obs = self.storage.observations.flatten(0, 1) if self.bound_optimizer is not None else None
        size = max(1, self.storage.num_envs * self.storage.num_transitions_per_env // self.num_mini_batches)
        losses = super().update()
        if obs is not None:
            losses.update(self._bound_step(obs))
        if self.demo_obs is not None and self.demo_weight > 0:
            losses.update(self._demo_step(size))
        return losses

    def _demo_step(self, size: int) -> dict[str, float]:
        weight = self.demo_weight * self.demo_decay ** self.demo_updates
        self.demo_updates += 1
        n = self.demo_actions.shape[0]
        for group in self.demo_optimizer.param_groups:
            group["lr"] = self.learning_rate * weight
        total = 0.0
        for _ in range(self.num_mini_batches):
            idx = torch.randint(0, n, (min(size, n),), device=self.device)
            loss = self.demo_loss(idx)
            self._raw_actor.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self._mean_params(), self.max_grad_norm)
            self.demo_optimizer.step()
            total += loss.item()
        # "demo": the demonstrations' action error (before each step); "demo_weight": this update's factor.
        return {"demo": total / self.num_mini_batches, "demo_weight": weight}

    def _bound_step(self, obs) -> dict[str, float]:
        n = obs.batch_size[0]
        order = torch.randperm(n, device=self.device)
        size = max(1, n // self.num_mini_batches)
        for group in self.bound_optimizer.param_groups:
            group["lr"] = self.learning_rate
        total, outside, count = 0.0, 0.0, 0
        for start in range(0, size * self.num_mini_batches, size):
            idx = order[start : start + size]
            mean = self.actor(obs[idx])
            loss = self.bound_penalty(mean).mean()
            self._raw_actor.zero_grad(set_to_none=True)
            loss.backward()
            self._keep_unbounded_rows()
            torch.nn.utils.clip_grad_norm_(self._bound_params(), self.max_grad_norm)
            self.bound_optimizer.step()
            with torch.no_grad():
                total += float(loss)
                outside += float(self._outside(mean).float().mean())
                count += 1
        # "action_bound": the penalty (before each step); "action_outside": the share of
        # (sample, bounded joint) means outside the bound.
        return {"action_bound": total / count, "action_outside": outside / count}

    def fit_inside(self, obs, epochs: int = 30, lr: float = 1e-3, batch: int = 2048) -> dict[str, float]:
        """Fit the actor's means to clip(μ₀(o), −bound, bound), μ₀ the actor as it is, over the
        observations ``obs`` (a TensorDict batch, e.g. of the actor's own rollouts), by Adam on
        the mean squared difference for ``epochs`` passes. With ``action_bound_indices``, only
        the output layer's rows of those dimensions are fitted, and every other action is left
        exactly as it was. The standard deviation is untouched. Returns, over ``obs`` before
        and after: the share of bounded means outside the bound and the largest excess, how far
        the clipped means moved (mean and largest absolute change, all dimensions), and the
        largest change of an unbounded dimension's mean (0 when all are bounded)."""
        if self.action_bound is None:
            raise ValueError("fit_inside needs an action_bound")
        n = obs.batch_size[0]
        b = self.action_bound
        with torch.no_grad():
            before = torch.cat([self.actor(obs[i : i + batch]) for i in range(0, n, batch)])
        target = torch.where(self.bound_mask, before.clamp(-b, b), before)
        params = self._bound_params()
        opt = torch.optim.Adam(params, lr=lr)
        for _ in range(epochs):
            order = torch.randperm(n, device=self.device)
            for i in range(0, n, batch):
                idx = order[i : i + batch]
                loss = (self.actor(obs[idx]) - target[idx]).pow(2).sum(dim=-1).mean()
                self._raw_actor.zero_grad(set_to_none=True)
                loss.backward()
                self._keep_unbounded_rows()
                torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
                opt.step()
        with torch.no_grad():
            after = torch.cat([self.actor(obs[i : i + batch]) for i in range(0, n, batch)])
            moved = (after.clamp(-b, b) - before.clamp(-b, b)).abs()
            free = ~self.bound_mask
            drift = float((after[:, free] - before[:, free]).abs().max()) if free.any() else 0.0
            excess = lambda m: float((m[:, self.bound_mask].abs() - b).clamp(min=0).max())  # noqa: E731
        return {"samples": int(n), "outside_before": float(self._outside(before).float().mean()),
                "max_excess_before": excess(before), "outside_after": float(self._outside(after).float().mean()),
                "max_excess_after": excess(after), "clipped_mean_change": float(moved.mean()),
                "clipped_max_change": float(moved.max()), "unbounded_max_change": drift}

    def save(self) -> dict:
        saved = super().save()
        if self.bound_optimizer is not None:
            saved["bound_optimizer_state_dict"] = self.bound_optimizer.state_dict()
        if self.demo_optimizer is not None:
            saved["demo_optimizer_state_dict"] = self.demo_optimizer.state_dict()
        saved["demo_updates"] = self.demo_updates
        return saved

    def load(self, loaded_dict: dict, load_cfg: dict | None, strict: bool) -> bool:
        out = super().load(loaded_dict, load_cfg, strict)
        wants_optimizer = load_cfg is None or load_cfg.get("optimizer")
        if self.bound_optimizer is not None and wants_optimizer and "bound_optimizer_state_dict" in loaded_dict:
            self.bound_optimizer.load_state_dict(loaded_dict["bound_optimizer_state_dict"])
        if self.demo_optimizer is not None and wants_optimizer and "demo_optimizer_state_dict" in loaded_dict:
            self.demo_optimizer.load_state_dict(loaded_dict["demo_optimizer_state_dict"])
        if wants_optimizer:
            self.demo_updates = int(loaded_dict.get("demo_updates", 0))
        return out
