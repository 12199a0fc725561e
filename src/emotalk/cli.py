"""`emotalk <command>`: one console script; each command's module is imported only when it runs."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from emotalk.errors import EmotalkError

#: command -> (module with add_arguments(parser) and run(args), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("emotalk.data.synthetic", "generate the synthetic CREMA-D data set"),
    "preprocess": (
        "emotalk.data.preprocess",
        "decode, detect faces, crop to 96x96, write crops + wav + manifest",
    ),
    "data-summary": ("emotalk.data.summary", "summarise a preprocessed data set and draw a sample grid"),
    "train": ("emotalk.train", "train (Hydra; same as `python -m emotalk.train`)"),
    "infer": ("emotalk.infer.cli", "dub a video or photo with speech and an emotion"),
    "export": ("emotalk.infer.export", "write a small (fp16) inference copy of a training checkpoint"),
    "evaluate": ("emotalk.evaluate.cli", "score experiments (LSE-D/C, FID, SSIM, PSNR, EmoAcc)"),
    "serve": ("emotalk.web.cli", "run the web demo and HTTP API"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="emotalk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    modules = {}
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if chosen is None or name == chosen:
            try:
                modules[name] = importlib.import_module(module)
            except ModuleNotFoundError as exc:  # a command whose issue has not landed yet
                if not exc.name or not exc.name.startswith("emotalk"):
                    raise
                continue
            modules[name].add_arguments(p)
    if chosen == "train":  # Hydra owns the rest of the command line
        return modules["train"].main_from_cli(argv[1:])
    args = parser.parse_args(argv)
    if args.command not in modules:
        parser.error(f"command {args.command!r} is not available in this version")
    try:
        return int(modules[args.command].run(args) or 0)
    except EmotalkError as exc:
        print(f"emotalk {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"emotalk {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
