"""Data kinds, one folder each: what differs between tabular rows (`tabular/`, data.format
csv), images (`image/`) and interaction logs (`interactions/`). Importing this package
registers the built-in kinds (aet.config.kinds); kinds/base.py is the protocol a new one
implements."""

from aet.kinds import image, interactions, tabular

__all__ = ["image", "interactions", "tabular"]
