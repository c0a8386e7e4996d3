"""ClusterCat: a database-centred catalogue system for extragalactic star clusters."""

__version__ = "0.1.0"
