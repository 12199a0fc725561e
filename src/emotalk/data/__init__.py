"""Data: synthetic CREMA-D, preprocessing, sample windows and the one LightningDataModule."""
