"""netc: a compiler for container networking.

Stages, one sub-package each, imports pointing one way (docs/architecture.md):
frontend -> resolve -> ir -> backends -> emit; prove (explain, verify) and host
read their results. `netc.pipeline.load` and `netc.pipeline.compile` are the
pure entry points.
"""

__version__ = "0.1.0"
