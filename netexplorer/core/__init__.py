"""The headless core: everything the GUI shows, computable without Qt.

Nothing under netexplorer.core may import PySide6 or pyqtgraph; a test checks it
in a fresh interpreter.
"""
