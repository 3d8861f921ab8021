"""Recognition networks: classifiers whose features also serve generative metrics."""
