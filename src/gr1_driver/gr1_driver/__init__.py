"""GR1 hardware interface: sim and Fourier backends, the safety layer and the driver node.

Package skeleton: it holds no code yet (see the README's package table for what lands here).
"""
