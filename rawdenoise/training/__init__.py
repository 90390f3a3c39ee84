"""Training: device and DDP set-up, seeding, checkpoints, the loop, datasets, pretrain, finetune.

Nothing heavy is imported here; import the submodule you need (``rawdenoise.training.loop``,
``rawdenoise.training.pretrain``, ...). All of it imports torch.
"""
