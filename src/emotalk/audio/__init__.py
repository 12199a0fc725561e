"""Audio: loading any file as 16 kHz mono, and the reference mel front end."""

from emotalk.audio.load import load_audio, write_wav
from emotalk.audio.mel import mel_chunks, melspectrogram

__all__ = ["load_audio", "mel_chunks", "melspectrogram", "write_wav"]
