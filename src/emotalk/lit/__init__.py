"""LightningModules: the expert SyncNet, the emotion classifier, the generator GAN."""
