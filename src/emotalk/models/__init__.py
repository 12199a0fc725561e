"""Plain PyTorch networks (no Lightning): generator, SyncNet expert, emotion classifier, discriminator, VGG loss."""
