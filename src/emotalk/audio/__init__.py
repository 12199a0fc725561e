"""Audio: `load` reads any file as 16 kHz mono; `mel` is the reference mel front end.

No re-exports: importing `emotalk.audio.load` must not pull in torch (worker start-up time).
"""
