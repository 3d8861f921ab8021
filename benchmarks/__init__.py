"""Speed and memory benchmarks that write JSON (`python -m benchmarks.<name>`)."""
