"""The bundled ``default`` model (``default.safetensors``), its model card and its recipe."""
