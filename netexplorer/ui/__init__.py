"""The desktop application: a thin Qt layer over netexplorer.core.

Nothing here computes what the core can: shapes, parameter counts, datasets and
grids come from netexplorer.core; these modules only show them and turn a
person's clicks into new ModelSpecs and dataset requests.
"""
