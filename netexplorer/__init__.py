"""netexplorer: build, train and visually debug small PyTorch networks."""

__version__ = "0.1.0"
