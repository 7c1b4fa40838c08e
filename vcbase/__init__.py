"""Code shared by vcagent, vccoord and vcctl: domain types, wire conversion, config, logging."""

__version__ = "0.1.0"
