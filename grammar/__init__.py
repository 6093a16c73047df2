"""The netc grammar (netc.lark), shipped inside the package."""
