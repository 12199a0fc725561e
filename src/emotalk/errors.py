"""Errors a user can act on. The CLI prints their message on one line; the web app returns it as a 4xx."""

from __future__ import annotations


class EmotalkError(Exception):
    """Base class: the message says what failed, on which file or frame, and what to do next."""

    exit_code = 2


class MediaDecodeError(EmotalkError):
    """A file could not be decoded (missing, corrupt, wrong type, no audio, no samples)."""


class NoFaceError(EmotalkError):
    """No face was found where one is required."""


class UnknownEmotionError(EmotalkError):
    """An emotion name or code that is not one of the six."""


class AudioTooShortError(EmotalkError):
    """The driving audio is shorter than one video frame: there is nothing to dub."""


class MissingWeightsError(EmotalkError):
    """A weights or checkpoint file the user must supply is absent or of the wrong kind."""

    def __init__(self, path: object, what: str, where: str) -> None:
        super().__init__(f"{what} not found or unusable: {path}. {where}")
        self.path = path


class InputTooLargeError(EmotalkError):
    """An input exceeds a configured size, duration or resolution cap."""


class ConfigError(EmotalkError):
    """A configuration that cannot work (e.g. a missing earlier-stage checkpoint)."""
