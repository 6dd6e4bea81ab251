"""Plumbing every layer may use: errors, registries, atomic files, CLI, tiles, labels."""
