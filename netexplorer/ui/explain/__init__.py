"""The Explain window: one image's trace — probabilities, saliency, every layer."""
