"""Built-in architectures and camera profiles, registered through the same hooks as plugins."""
