"""Image files (``images``: read, decode, encode, write, array <-> tensor) and atomic outputs (``atomic``)."""
