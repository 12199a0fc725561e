"""Video: decoding, face detection and tracking, crop/paste, encoding."""
