"""Where and how the code computes: device names, precision (autocast), the CPU heap, distributed start-up."""
