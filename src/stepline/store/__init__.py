"""Content-addressed objects: hashing, the stat cache, manifests, object stores, gc and fsck."""
