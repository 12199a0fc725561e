"""The driving audio for inference: output length, per-frame mel windows computed in blocks, silence.

The full mel of a 10-minute clip would need a 300 MB complex STFT at once; `MelSource` computes it block by block
(with a margin of columns on each side, so every column equals the one of `melspectrogram` over the whole
signal) and hands out the reference's per-frame windows: chunk i starts at column int(i·80/fps), and windows
past the end take the last 16 columns (reference-code.md §11.3).
"""

from __future__ import annotations

import numpy as np

from emotalk.audio.mel import melspectrogram
from emotalk.spec import DEFAULT_SPEC, AVSpec

#: Columns computed on each side of a block: the STFT window reaches n_fft/2 = 400 samples (2 hops) and
#: pre-emphasis one sample further, so 4 hops keep every kept column exact.
_MARGIN = 4


def n_output_frames(n_samples: int, fps: float, spec: AVSpec = DEFAULT_SPEC) -> int:
    """Frames of a dub of this audio: its duration at `fps`, rounded, so output and audio lengths agree within
    half a frame (at least one frame). The reference's chunk count drops the last ~3 frames (its final window
    must fit whole), which would cut the end of the speech."""
    return max(1, int(n_samples / spec.sample_rate * fps + 0.5))  # halves round up, not to even


class MelSource:
    """Per-frame mel windows [80, 16] of `wav`, computed on demand in blocks of `block` columns."""

    def __init__(self, wav: np.ndarray, fps: float, spec: AVSpec = DEFAULT_SPEC, block: int = 4000) -> None:
        self.wav = np.asarray(wav, dtype=np.float32)
        self.fps = float(fps)
        self.spec = spec
        self.block = int(block)
        self.n_cols = 1 + len(self.wav) // spec.hop_length  # melspectrogram's column count
        self._lo = self._hi = 0
        self._cols: np.ndarray | None = None

    def start_column(self, frame: int) -> int:
        """First column of frame `frame`'s window after the end rule (what `mel_window` would cut)."""
        start = max(0, self.spec.mel_start(frame, self.fps))
        if start + self.spec.mel_step > self.n_cols:
            start = max(0, self.n_cols - self.spec.mel_step)
        return start

    def columns(self, lo: int, hi: int) -> np.ndarray:
        """Columns [lo, hi) of the whole signal's mel, equal to melspectrogram(wav)[:, lo:hi]."""
        hop = self.spec.hop_length
        lo, hi = max(0, lo), min(self.n_cols, hi)
        s0 = max(0, (lo - _MARGIN) * hop)
        s1 = min(len(self.wav), (hi + _MARGIN) * hop)
        mel = melspectrogram(self.wav[s0:s1], self.spec)
        first = s0 // hop  # global column of the slice's column 0
        out = mel[:, lo - first : hi - first]
        if out.shape[1] != hi - lo:  # the signal's tail: the slice ends with the signal, so its columns are exact
            raise AssertionError(f"mel block {lo}:{hi} came out with {out.shape[1]} columns")
        return out

    def window(self, frame: int) -> np.ndarray:
        """The [n_mels, mel_step] window of output frame `frame` (audio shorter than one window: padded)."""
        step = self.spec.mel_step
        start = self.start_column(frame)
        end = min(start + step, self.n_cols)
        if self._cols is None or start < self._lo or end > self._hi:
            self._lo = start
            self._hi = min(self.n_cols, start + max(self.block, step))
            self._cols = self.columns(self._lo, self._hi)
        win = self._cols[:, start - self._lo : end - self._lo]
        if win.shape[1] < step:
            pad = ((0, 0), (0, step - win.shape[1]))
            win = np.pad(win, pad, constant_values=-self.spec.max_abs_value)
        return win

    def windows(self, frames: list[int] | range | np.ndarray) -> np.ndarray:
        """[n, n_mels, mel_step] float32 for increasing frame indices."""
        return np.stack([self.window(int(i)) for i in frames]).astype(np.float32, copy=False)

    def rms_db(self, frame: int) -> float:
        """Loudness of the samples under frame `frame`'s mel window, in dBFS (-inf for digital silence)."""
        hop = self.spec.hop_length
        start = self.start_column(frame)
        seg = self.wav[start * hop : (start + self.spec.mel_step) * hop]
        if seg.size == 0:
            return -np.inf
        rms = float(np.sqrt(np.mean(np.square(seg, dtype=np.float64))))
        return 20 * np.log10(rms) if rms > 0 else -np.inf
