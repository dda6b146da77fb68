"""Environments: env specs → locks → built envs (local, uv, conda → uv, docker)."""
