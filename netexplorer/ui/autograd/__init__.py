"""The Autograd tab: lessons, the console, the tensors, the graphs (see
autograd_panel.py)."""
