"""The YAML presets (`default.yaml`, `tiny.yaml`), shipped as package data with the code."""
