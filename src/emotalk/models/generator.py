"""The talking-face generator: Wav2Lip's U-Net (reference-code.md §5) with EmoGen's emotion conditioning (§5.4).

Every frame is generated independently: T is folded into the batch time-major (all B items of t=0, then t=1, …) as
the reference does, and only the losses see T. Options cover the paper's ablations (mission.md §4):

* ``emotion=False``: the no-emotion base model (Wav2Lip; keys equal Wav2Lip's ``wav2lip.pth``).
* ``fusion="seq"``: [audio 512 ; emotion 512] → 1x1 conv 1024→512 as the first decoder block (EmoGen's released
  layout; keys equal EmoGen's generator checkpoint).
* ``fusion="end"``: the emotion embedding → one 96x96 map (a Linear 512→96·96, our choice: the paper does not say
  how the map is made) concatenated to the 80-channel decoder output, so the output block takes 81 channels.
* ``noise="lstm"``: one standard-normal vector per frame (``noise_dim``, default 16) → one-layer LSTM over the T
  frames (hidden size ``noise_dim``) → concatenated with the 512-d face embedding at the bottleneck, so the first
  transposed conv takes 1024 + noise_dim channels. Small on purpose: it perturbs the face code, it does not
  replace it. Off in all paper runs.
* ``width``: channel multiplier (1.0 = paper; 0.25 gives a fast CPU model); every channel count scales, ≥ 8.

The emotion input is a class index [B] (one-hot encoded here), a [B, 6] vector (one-hot or a blend with neutral,
for emotion strength at inference) or a [B, T, 6] per-frame vector (emotion timelines). The reference repeats it
a hard-coded 5 times, which breaks 4-D inference (its README says to edit the model file); we broadcast to the
actual T.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from emotalk.models.blocks import Conv2dBlock, ConvTranspose2dBlock, audio_encoder, scaled
from emotalk.spec import EMOTIONS

Fusion = Literal["seq", "end"]
NoiseMode = Literal["off", "lstm"]

IMG_SIZE = 96  # the U-Net's strides take 96x96 down to 1x1; other sizes would need a different encoder
N_EMOTIONS = len(EMOTIONS)


def emotion_to_vector(emotion: Tensor, n: int | None = None) -> Tensor:
    """Class indices [B] (long) → one-hot [B, 6] float; float vectors pass through unchanged.

    Raises ValueError on an index outside 0..5 (e.g. -1, "unlabelled", which an emotion generator cannot use).
    """
    if emotion.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
        if emotion.dim() != 1:
            raise ValueError(f"emotion indices must be [B], got shape {tuple(emotion.shape)}")
        if emotion.numel() and (int(emotion.min()) < 0 or int(emotion.max()) >= N_EMOTIONS):
            raise ValueError(f"emotion index out of range 0..{N_EMOTIONS - 1}: {emotion.tolist()}")
        emotion = F.one_hot(emotion.long(), N_EMOTIONS).float()
    if emotion.shape[-1] != N_EMOTIONS:
        raise ValueError(f"emotion vectors must end in {N_EMOTIONS} (order {EMOTIONS}), got {tuple(emotion.shape)}")
    if n is not None and emotion.shape[0] not in (1, n):
        raise ValueError(f"emotion batch {emotion.shape[0]} does not match the input batch {n}")
    return emotion


class Generator(nn.Module):
    """Wav2Lip/EmoGen generator: masked target + reference face, audio window (and emotion) → face.

    5-D clips: audio [B, T, 1, 80, 16], face [B, 6, T, 96, 96] → [B, 3, T, 96, 96].
    4-D frames (inference): audio [N, 1, 80, 16], face [N, 6, 96, 96] → [N, 3, 96, 96].
    Output is in [0, 1] (sigmoid), BGR like the input.

    >>> g = Generator(width=0.25)
    >>> g(torch.zeros(2, 3, 1, 80, 16), torch.zeros(2, 6, 3, 96, 96), torch.tensor([0, 5])).shape
    torch.Size([2, 3, 3, 96, 96])
    """

    def __init__(
        self,
        emotion: bool = True,
        fusion: Fusion = "seq",
        noise: NoiseMode = "off",
        width: float = 1.0,
        noise_dim: int = 16,
    ) -> None:
        super().__init__()
        if fusion not in ("seq", "end"):
            raise ValueError(f"fusion must be 'seq' or 'end', got {fusion!r}")
        if noise not in ("off", "lstm"):
            raise ValueError(f"noise must be 'off' or 'lstm', got {noise!r}")
        self.config = {"emotion": emotion, "fusion": fusion, "noise": noise, "width": width, "noise_dim": noise_dim}
        self.use_emotion = emotion
        self.fusion: Fusion = fusion
        self.noise_mode: NoiseMode = noise

        def c(n: int) -> int:
            return scaled(n, width)

        def res(ch: int) -> Conv2dBlock:
            return Conv2dBlock(ch, ch, 3, 1, 1, residual=True)

        # Attribute order = the reference's registration order, so state_dict keys come out in the same order.
        self.face_encoder_blocks = nn.ModuleList(
            [
                nn.Sequential(Conv2dBlock(6, c(16), 7, 1, 3)),  # 96x96
                nn.Sequential(Conv2dBlock(c(16), c(32), 3, 2, 1), res(c(32)), res(c(32))),  # 48x48
                nn.Sequential(Conv2dBlock(c(32), c(64), 3, 2, 1), res(c(64)), res(c(64)), res(c(64))),  # 24x24
                nn.Sequential(Conv2dBlock(c(64), c(128), 3, 2, 1), res(c(128)), res(c(128))),  # 12x12
                nn.Sequential(Conv2dBlock(c(128), c(256), 3, 2, 1), res(c(256)), res(c(256))),  # 6x6
                nn.Sequential(Conv2dBlock(c(256), c(512), 3, 2, 1), res(c(512))),  # 3x3
                nn.Sequential(Conv2dBlock(c(512), c(512), 3, 1, 0), Conv2dBlock(c(512), c(512), 1, 1, 0)),  # 1x1
            ]
        )
        self.emotion_dim = c(512)
        if emotion:
            self.emotion_encoder = nn.Sequential(
                nn.Linear(N_EMOTIONS, self.emotion_dim),
                nn.LeakyReLU(0.2),
                nn.Linear(self.emotion_dim, self.emotion_dim),
                nn.LeakyReLU(0.2),
            )
        self.audio_encoder = audio_encoder(width, residuals_at_3x3=1)  # Wav2Lip's, as the reference
        self.noise_dim = noise_dim if noise == "lstm" else 0
        d0_in = c(512) + (self.emotion_dim if emotion and fusion == "seq" else 0)
        bottleneck = c(512) + c(512) + self.noise_dim  # D0 output ; face embedding F6 (; noise)

        def up(cin: int, cout: int) -> ConvTranspose2dBlock:
            return ConvTranspose2dBlock(cin, cout, 3, 2, 1, output_padding=1)

        self.face_decoder_blocks = nn.ModuleList(
            [
                nn.Sequential(Conv2dBlock(d0_in, c(512), 1, 1, 0)),  # 1x1
                nn.Sequential(ConvTranspose2dBlock(bottleneck, c(512), 3, 1, 0), res(c(512))),  # 3x3
                nn.Sequential(up(c(512) + c(512), c(512)), res(c(512)), res(c(512))),  # 6x6
                nn.Sequential(up(c(512) + c(256), c(384)), res(c(384)), res(c(384))),  # 12x12
                nn.Sequential(up(c(384) + c(128), c(256)), res(c(256)), res(c(256))),  # 24x24
                nn.Sequential(up(c(256) + c(64), c(128)), res(c(128)), res(c(128))),  # 48x48
                nn.Sequential(up(c(128) + c(32), c(64)), res(c(64)), res(c(64))),  # 96x96
            ]
        )
        out_in = c(64) + c(16) + (1 if emotion and fusion == "end" else 0)  # 80 (+1 emotion map for END)
        self.output_block = nn.Sequential(
            Conv2dBlock(out_in, c(32), 3, 1, 1), nn.Conv2d(c(32), 3, 1, 1, 0), nn.Sigmoid()
        )
        if emotion and fusion == "end":
            self.emotion_map = nn.Linear(self.emotion_dim, IMG_SIZE * IMG_SIZE)
        if noise == "lstm":
            self.noise_encoder = nn.LSTM(noise_dim, noise_dim, num_layers=1, batch_first=True)
        self._face_encoder_frozen = False

    # ------------------------------------------------------------------------------------------------ public API

    def embed_emotion(self, emotion: Tensor) -> Tensor:
        """Emotion embedding [B, 512·width] of indices [B] or vectors [B, 6] (the t-SNE figure of mission.md §7)."""
        if not self.use_emotion:
            raise RuntimeError("this generator was built with emotion=False and has no emotion encoder")
        vec = emotion_to_vector(emotion).to(self.emotion_encoder[0].weight.dtype)
        return self.emotion_encoder(vec)

    def freeze_face_encoder(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) the face encoder for the PRE `frozen` ablation; its BatchNorm stats stay fixed too."""
        self._face_encoder_frozen = frozen
        for p in self.face_encoder_blocks.parameters():
            p.requires_grad_(not frozen)
        self.face_encoder_blocks.train(self.training and not frozen)

    def train(self, mode: bool = True) -> Generator:
        super().train(mode)
        if self._face_encoder_frozen:  # Lightning calls .train() every epoch; a frozen encoder keeps eval BN
            self.face_encoder_blocks.eval()
        return self

    def forward(
        self, audio: Tensor, face: Tensor, emotion: Tensor | None = None, noise: Tensor | None = None
    ) -> Tensor:
        """Generate faces; see the class docstring for shapes.

        Args:
            emotion: [B] long, [B, 6] or [B, T, 6] float for clips; [N] long or [N, 6] for frames. A batch of 1
                broadcasts. Ignored (may be None) when built with emotion=False.
            noise: optional standard-normal input [B, T, noise_dim] (clips) or [N, noise_dim] (frames, taken as
                one sequence of N consecutive frames); drawn with torch.randn when None. Only with noise="lstm".
        """
        if face.dim() == 5:
            return self._forward_clip(audio, face, emotion, noise)
        if face.dim() == 4:
            return self._forward_frames(audio, face, emotion, noise)
        raise ValueError(f"face must be [B, 6, T, H, W] or [N, 6, H, W], got {tuple(face.shape)}")

    # ------------------------------------------------------------------------------------------------ internals

    def _forward_clip(self, audio: Tensor, face: Tensor, emotion: Tensor | None, noise: Tensor | None) -> Tensor:
        B, C, T, H, W = face.shape
        if audio.dim() != 5 or audio.shape[:2] != (B, T):
            raise ValueError(f"audio must be [B={B}, T={T}, 1, 80, 16] for a clip, got {tuple(audio.shape)}")
        # Fold time-major like the reference: row t*B + b holds frame t of item b.
        audio_f = audio.transpose(0, 1).reshape(T * B, *audio.shape[2:])  # (T*B, 1, M, S)
        face_f = face.permute(2, 0, 1, 3, 4).reshape(T * B, C, H, W)  # (T*B, 6, H, W)
        emo_f = None
        if self.use_emotion:
            emo = self._emotion_clip(emotion, B, T).to(face.dtype)  # (B, T, 6)
            emo_f = emo.transpose(0, 1).reshape(T * B, N_EMOTIONS)  # (T*B, 6)
        noise_f = None
        if self.noise_mode == "lstm":
            z = self._noise(noise, (B, T, self.noise_dim), face)
            h, _ = self.noise_encoder(z)  # (B, T, noise_dim)
            noise_f = h.transpose(0, 1).reshape(T * B, self.noise_dim)  # (T*B, noise_dim)
        out = self._generate(audio_f, face_f, emo_f, noise_f)  # (T*B, 3, H, W)
        return out.view(T, B, 3, H, W).permute(1, 2, 0, 3, 4)  # (B, 3, T, H, W)

    def _forward_frames(self, audio: Tensor, face: Tensor, emotion: Tensor | None, noise: Tensor | None) -> Tensor:
        N = face.shape[0]
        if audio.dim() != 4 or audio.shape[0] != N:
            raise ValueError(f"audio must be [N={N}, 1, 80, 16] for frames, got {tuple(audio.shape)}")
        emo_f = None
        if self.use_emotion:
            if emotion is None:
                raise ValueError("this generator needs an emotion input ([N] indices or [N, 6] vectors)")
            vec = emotion_to_vector(emotion, N)
            if vec.dim() != 2:
                raise ValueError(f"emotion for frames must be [N] or [N, 6], got {tuple(emotion.shape)}")
            emo_f = vec.to(face.dtype)
            if emo_f.shape[0] != N:  # one emotion for all frames; an exported graph always gets [N, 6]
                emo_f = emo_f.expand(N, N_EMOTIONS)
        noise_f = None
        if self.noise_mode == "lstm":
            z = self._noise(noise, (N, self.noise_dim), face)
            h, _ = self.noise_encoder(z.unsqueeze(0))  # (1, N, noise_dim): the N frames as one sequence
            noise_f = h.squeeze(0)
        return self._generate(audio, face, emo_f, noise_f)

    def _emotion_clip(self, emotion: Tensor | None, B: int, T: int) -> Tensor:
        """Any accepted emotion input → [B, T, 6]."""
        if emotion is None:
            raise ValueError("this generator needs an emotion input ([B] indices, [B, 6] or [B, T, 6] vectors)")
        if emotion.dim() == 3:
            if emotion.shape[0] not in (1, B) or emotion.shape[1] != T or emotion.shape[2] != N_EMOTIONS:
                raise ValueError(f"per-frame emotion must be [B={B}, T={T}, 6], got {tuple(emotion.shape)}")
            return emotion.float().expand(B, T, N_EMOTIONS)
        vec = emotion_to_vector(emotion, B)  # (B or 1, 6)
        if vec.dim() != 2:
            raise ValueError(f"emotion must be [B], [B, 6] or [B, T, 6], got {tuple(emotion.shape)}")
        return vec.unsqueeze(1).expand(B, T, N_EMOTIONS)  # broadcast to the actual T (reference: hard-coded 5)

    @staticmethod
    def _noise(noise: Tensor | None, shape: tuple[int, ...], like: Tensor) -> Tensor:
        if noise is None:
            return torch.randn(shape, device=like.device, dtype=like.dtype)
        if tuple(noise.shape) != shape:
            raise ValueError(f"noise must have shape {list(shape)}, got {tuple(noise.shape)}")
        return noise.to(like.dtype)

    def _generate(self, audio: Tensor, face: Tensor, emotion: Tensor | None, noise: Tensor | None) -> Tensor:
        """Per-frame U-Net: audio (N, 1, 80, 16), face (N, 6, 96, 96), emotion (N, 6), noise (N, d) → (N, 3, 96, 96)."""
        if face.shape[1:] != (6, IMG_SIZE, IMG_SIZE):
            raise ValueError(
                f"face frames must be 6x{IMG_SIZE}x{IMG_SIZE} (masked target ; reference), got {tuple(face.shape)}"
            )
        # No shape arithmetic on the inputs below (indexing, view(-1, ...)): in an exported graph a Shape op on the
        # quantized face input made OpenVINO's int8 output a flat image (experiments/results/backends-20261205-int8.md).
        feats = []
        x = face
        for block in self.face_encoder_blocks:
            x = block(x)
            feats.append(x)
        if noise is not None:  # noise joins the face embedding at the bottleneck
            feats[-1] = torch.cat([feats[-1], noise[:, :, None, None]], dim=1)  # (N, 512 + d, 1, 1)

        x = self.audio_encoder(audio)  # (N, 512, 1, 1)
        if x.shape[2:] != (1, 1):
            raise ValueError(f"audio windows must be 1x80x16 mel chunks, got {tuple(audio.shape[1:])}")
        emb = None
        if emotion is not None:
            emb = self.emotion_encoder(emotion)  # (N, E)
            if self.fusion == "seq":
                x = torch.cat([x, emb[:, :, None, None]], dim=1)  # (N, 512 + E, 1, 1): [audio ; emotion]
        for block in self.face_decoder_blocks:
            x = block(x)
            x = torch.cat([x, feats.pop()], dim=1)  # skip from the matching encoder level, deepest first
        if emb is not None and self.fusion == "end":
            emo_map = self.emotion_map(emb).view(-1, 1, IMG_SIZE, IMG_SIZE)  # (N, 1, 96, 96)
            x = torch.cat([x, emo_map], dim=1)  # (N, 81, 96, 96)
        return self.output_block(x)
