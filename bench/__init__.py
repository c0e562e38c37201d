"""The laraflowai benchmark: our streaming path against a raw client and peers."""
