"""Reinforcement learning: the PPO training loop (on rsl_rl's PPO) and policy evaluation."""
