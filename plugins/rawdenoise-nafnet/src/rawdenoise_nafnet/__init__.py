"""NAFNet for rawdenoise: a plugin adding the ``nafnet`` architecture (packed 4-channel RAW).

Importing this package does not import torch; the network lives in
:mod:`rawdenoise_nafnet.network` and is imported only when rawdenoise builds one.
"""

__version__ = "0.1.0"
