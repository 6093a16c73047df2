"""netc: a compiler for container networking.

Stages (imports point one way): parse -> build -> resolve -> backends.
`netc.pipeline.load` and `netc.pipeline.compile` are the pure entry points.
"""

__version__ = "0.1.0"
