"""``--blur-people`` for the commands that write photos (a CLI plug-in extending existing parsers).

Today that is ``irbis demo`` (its HTML summary embeds thumbnails): person boxes (category "2") are
blurred beyond recognition in them. Commands that only write tables or JSON need no option.
"""

from __future__ import annotations

from pathlib import Path


def add_parser(subparsers) -> None:
    demo = subparsers.choices.get("demo")
    if demo is not None:
        demo.add_argument("--blur-people", action="store_true",
                          help="blur person boxes (plus a margin) in the HTML summary's thumbnails")
        demo.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(Path(args.out), Path(args.data) if args.data else None, progress=not args.quiet,
                    blur_people=args.blur_people)
