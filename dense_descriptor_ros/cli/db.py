"""``ddr db``: create, inspect, export, import and re-embed a keypoint database."""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from dense_descriptor_ros.grasping.keypoint_db import KeypointDatabase, KeypointDatabaseError
from dense_descriptor_ros.model.descriptor_model import DescriptorModel


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="manage the grasp keypoint database",
                                   description="Manage the SQLite keypoint database of grasp annotations.")
    actions = parser.add_subparsers(dest="db_command", required=True)

    init = actions.add_parser("init", help="create an empty database")
    init.add_argument("database", help="database file (.sqlite)")
    init.set_defaults(func=run_init)

    show = actions.add_parser("list", help="objects, annotations and the model that made them")
    show.add_argument("database")
    show.set_defaults(func=run_list)

    export = actions.add_parser("export", help="write the database to a plain JSON file")
    export.add_argument("database")
    export.add_argument("output", help="JSON file to write")
    export.set_defaults(func=run_export)

    load = actions.add_parser("import", help="merge an exported JSON file into the database")
    load.add_argument("database", help="database file (created when missing)")
    load.add_argument("input", help="JSON file written by 'ddr db export'")
    load.set_defaults(func=run_import)

    reembed = actions.add_parser("reembed", help="recompute all descriptors with another model")
    reembed.add_argument("database")
    reembed.add_argument("--checkpoint", required=True, help="model checkpoint (.pt) to embed with")
    reembed.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    reembed.set_defaults(func=run_reembed)


def run_init(args: argparse.Namespace) -> int:
    with KeypointDatabase(args.database) as db:
        print(f"{db.path}: keypoint database, schema version {db.schema_version}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with KeypointDatabase(args.database, create=False) as db:
        damaged = db.damaged_tables()
        if damaged:
            raise KeypointDatabaseError(f"{db.path} is damaged: {', '.join(damaged)}; restore it from a "
                                        "`ddr db export` copy with `ddr db import`")
        records = db.records()
        models = sorted(db.model_hashes())
        print(f"{db.path}: schema version {db.schema_version}, model {', '.join(models) or '(none)'}")
        counts = Counter((r.object, r.role) for r in records)
        images = {}
        for record in records:
            images.setdefault(record.object, set()).add(record.image_id)
        for name in db.objects():
            axis = "yes" if counts[(name, "axis_a")] and counts[(name, "axis_b")] else "no"
            width = db.axis_face_width(name)
            if width is not None:
                axis += f" (face {width * 1000:.1f} mm across)"
            print(f"  {name}: {counts[(name, 'preference')]} preferences, axis keypoints: {axis}, "
                  f"images: {len(images.get(name, ()))}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with KeypointDatabase(args.database, create=False) as db:
        path = db.export_json(args.output)
    print(f"exported {args.database} to {path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    if not Path(args.input).is_file():
        raise FileNotFoundError(f"export file not found: {args.input}")
    with KeypointDatabase(args.database) as db:
        count = db.import_json(args.input)
    print(f"imported {count} keypoints from {args.input} into {args.database}")
    return 0


def run_reembed(args: argparse.Namespace) -> int:
    with KeypointDatabase(args.database, create=False) as db:
        model = DescriptorModel.load(args.checkpoint, args.device)
        count = db.reembed(model)
    print(f"re-embedded {count} descriptors in {args.database} with model {model.hash}")
    return 0
