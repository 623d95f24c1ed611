"""The offline package: tasks, rewards, RL, autotune, distillation, export and the ``dexmani`` CLI."""
