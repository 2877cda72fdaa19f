"""``ddr annotate``: record grasp preferences on an image, by argument or in a local web page."""
from __future__ import annotations

import argparse
from pathlib import Path

from dense_descriptor_ros.model.descriptor_model import DescriptorModel


def parse_click(text: str) -> tuple[float, float]:
    """``"x,y"`` -> (x, y) pixel."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a click must look like x,y (pixels), got {text!r}") from None
    return x, y


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("annotate", help="record grasp preferences on an image (web page or --click)")
    p.add_argument("--image", required=True, type=Path, help="image to annotate (PNG/JPG)")
    p.add_argument("--db", required=True, type=Path, help="keypoint database (created when missing)")
    p.add_argument("--model", required=True, type=Path, help="model checkpoint (.pt) that makes the descriptors")
    p.add_argument("--object", required=True, help="object name the preferences belong to")
    p.add_argument("--click", type=parse_click, nargs="+", default=None, metavar="X,Y",
                   help="store these pixels directly instead of opening the web page")
    p.add_argument("--annotator", default="operator")
    p.add_argument("--port", type=int, default=0, help="web page port on 127.0.0.1 (0: any free port)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dense_descriptor_ros.annotation.session import AnnotationSession, load_rgb
    from dense_descriptor_ros.annotation.web import AnnotationServer

    image = load_rgb(args.image)
    session = AnnotationSession(image, args.db, DescriptorModel.load(args.model), args.object, args.annotator,
                                image_path=str(args.image))
    if args.click:
        ids = session.add(args.click)
        print(f"stored {len(ids)} preferences of {args.object!r} in {args.db}")
        return 0
    server = AnnotationServer(session, args.port)
    print(f"annotate {args.object!r} at {server.url} (press Done on the page to finish)", flush=True)
    server.serve()
    print(f"stored {len(session.clicks)} preferences of {args.object!r} in {args.db}")
    return 0
