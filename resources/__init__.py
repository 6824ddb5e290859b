"""Data shipped with netexplorer (installed as the package netexplorer.resources).

presets/*.json are ModelSpecs, icons/*.svg the GUI's icons, styles/*.qss its
small style sheet. Code reaches them through netexplorer.core.assets, which uses
importlib.resources so that an installed wheel works without a source tree.
"""
