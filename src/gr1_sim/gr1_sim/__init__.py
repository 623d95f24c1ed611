"""MuJoCo scenes of the GR1 robot, batched stepping and headless rendering."""
