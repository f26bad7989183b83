"""graph-credit: responsibility graph and joint incentive / joint punishment engine."""

__version__ = "0.1.0"
