"""Shared utilities every layer may use: configuration readers, realtime publish, process
holders, the embedded services. Imports nothing of ours: the bottom of the layers in
docs/architecture.md."""
