"""The tensor and autograd lab: the tutorial's first half, runnable and visible.

- allowlist.py: what the console's statements may name, call and read;
- evaluator.py: the safe evaluator (an `ast` whitelist, bounded sizes, a time
  limit checked between nodes) and its refusals;
- sizes.py: how big a call's result would be, found before it runs;
- messages.py: autograd's errors in a learner's words;
- snapshot.py: a tensor as a plain record (values, shape, dtype, version …);
- graph.py: the graph autograd built, as plain records (nodes, edges, layer
  groups), traced from grad_fn; model_graph.py: one model's forward and loss;
- layout.py, writers.py: the layered layout, and DOT and SVG without Graphviz;
- console.py: a console session (names, statements, snapshots, the graph);
- lessons.py: the tutorial's lessons, in its order.

The modules whose records the GUI uses before torch loads (lessons, graph,
layout, writers, snapshot) import torch only inside functions.
"""
