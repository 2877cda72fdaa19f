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
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path, help="image to annotate (PNG/JPG); colour only, no face widths")
    source.add_argument("--sequence", type=Path,
                        help="RGB-D sequence folder (sequence.json, e.g. from ddr sim dataset): annotate its "
                             "--frame with depth, and the page shows the face width under each click")
    p.add_argument("--frame", type=int, default=None, help="frame index in --sequence (default 0)")
    p.add_argument("--db", required=True, type=Path, help="keypoint database (created when missing)")
    p.add_argument("--model", required=True, type=Path, help="model checkpoint (.pt) that makes the descriptors")
    p.add_argument("--object", default=None,
                   help="object the preferences belong to (required with --click; on the page: selected "
                        "first, and the page switches between objects)")
    p.add_argument("--click", type=parse_click, nargs="+", default=None, metavar="X,Y",
                   help="store these pixels directly instead of opening the web page")
    p.add_argument("--annotator", default="operator")
    p.add_argument("--port", type=int, default=0, help="web page port on 127.0.0.1 (0: any free port)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dense_descriptor_ros.annotation.session import (AnnotationSession, check_object_name, load_rgb,
                                                         load_sequence_frame)
    from dense_descriptor_ros.annotation.web import AnnotationServer

    if args.click and not args.object:
        raise ValueError("--click needs --object: the object the clicked preferences belong to")
    name = None if args.object is None else check_object_name(args.object)
    if args.sequence is None and args.frame is not None:
        raise ValueError("--frame picks a frame of --sequence; an --image is a single frame")
    if args.sequence is None:
        image, depth, intrinsics, image_path = load_rgb(args.image), None, None, args.image
    else:
        image, depth, intrinsics, image_path = load_sequence_frame(args.sequence, args.frame or 0)
    session = AnnotationSession(image, args.db, DescriptorModel.load(args.model), args.annotator,
                                image_path=str(image_path), depth=depth, intrinsics=intrinsics)
    if args.click:
        ids = session.add(name, args.click)
        print(f"stored {len(ids)} preferences of {name!r} in {args.db}")
        return 0
    server = AnnotationServer(session, args.port, initial_object=name)
    print(f"annotate at {server.url} (press Done on the page to finish)", flush=True)
    server.serve()
    counts = {obj: session.session_count(obj) for obj in session.objects()}
    print(f"stored {sum(counts.values())} preferences in {args.db}"
          + "".join(f"; {count} of {obj!r}" for obj, count in counts.items() if count))
    return 0
