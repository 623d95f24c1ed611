"""Policy runtime: observation assembly, inference, action post-processing, deployment contract.

Package skeleton: it holds no code yet (see the README's package table for what lands here).
"""
