"""Object perception: segmenters, segmented depth, the object centroid, depth noise models.

Package skeleton: it holds no code yet (see the README's package table for what lands here).
"""
