"""Built-in networks: the LED/SID UNet, a tiny test UNet and the RepNR wrapper.

Kept light on purpose: importing ``rawdenoise.networks`` imports nothing heavy; the submodules
(``unet``, ``tiny``, ``repnr``, ``padding``) import torch.
"""
