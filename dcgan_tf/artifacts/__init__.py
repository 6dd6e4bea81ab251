"""What a run leaves on disk, each format with its writer and reader in one module."""
