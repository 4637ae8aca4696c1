"""Tools around the network: comparison with other restorers, profiling, training-memory measurement."""
