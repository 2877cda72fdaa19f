"""descriptor_node over real DDS: per-frame latency and throughput per frame size.

One process: a publisher node sends colour images to descriptor_node (a ResNet-18 checkpoint
made here, random weights: timing does not depend on them) and a subscriber receives the
``32FC<D>`` descriptors. Each frame is sent only after the previous answer arrived, so the
latency is the round trip (conversion + network + DDS) and throughput is 1 / latency of
back-to-back frames; message sizes are reported too.

    python -m benchmarks.bench_descriptor_node --sizes 320x240,640x480 --repeats 10
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import (add_common_arguments, count_flops, environment, matmul_peak, parse_sizes,
                               setup_run, write_report)

COLUMNS = [("size", "WxH", ""), ("half", "half", ""), ("median_ms", "median ms", ".1f"),
           ("p90_ms", "p90 ms", ".1f"), ("fps", "frames/s", ".2f"), ("input_bytes", "in bytes", "d"),
           ("output_bytes", "out bytes", "d"), ("output_shape", "out (h,w,D)", ""),
           ("gflop_per_frame", "GFLOP/frame", ".1f")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("320x240,640x480"),
                        help="frame sizes WIDTHxHEIGHT, comma-separated")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--half", action="store_true", help="fp16 on CUDA / bf16 on CPU in the node")
    add_common_arguments(parser, "docs/benchmarks/descriptor_node.json")
    return parser.parse_args(argv)


def measure(size: tuple[int, int], checkpoint: Path, args: argparse.Namespace, device: torch.device) -> dict:
    """Round-trip samples for one frame size on a private DDS domain."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from dense_descriptor_ros.messages import numpy_to_image
    from dense_descriptor_ros.ros.nodes.descriptor_node import DescriptorNode

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=200 + os.getpid() % 30)
    executor = SingleThreadedExecutor(context=context)
    try:
        node = DescriptorNode(context=context, parameter_overrides=[
            Parameter("model_path", value=str(checkpoint)), Parameter("device", value=device.type),
            Parameter("half", value=args.half), Parameter("max_age_s", value=60.0)])
        probe = rclpy.create_node("bench_probe", context=context)
        for n in (node, probe):
            executor.add_node(n)
        answers: list = []
        probe.create_subscription(Image, "descriptors", answers.append, 10)
        publisher = probe.create_publisher(Image, "image", 10)
        rgb = np.random.default_rng(0).integers(0, 255, (size[0], size[1], 3), dtype=np.uint8)
        deadline = time.monotonic() + 10
        while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        samples, message = [], None
        for index in range(args.warmup + args.repeats):
            message = numpy_to_image(rgb, "rgb8", Image)
            message.header.stamp = probe.get_clock().now().to_msg()
            answers.clear()
            started = time.perf_counter()
            publisher.publish(message)
            while not answers and time.perf_counter() - started < 120:
                executor.spin_once(timeout_sec=0.01)
            if not answers:
                raise RuntimeError(f"descriptor_node did not answer a {size[1]}x{size[0]} frame in 120 s")
            if index >= args.warmup:
                samples.append((time.perf_counter() - started) * 1e3)
        out = answers[-1]
        return {"samples": samples, "input_bytes": len(message.data), "output_bytes": len(out.data),
                "output_shape": f"{out.height},{out.width},{out.encoding[4:]}"}
    finally:
        executor.shutdown()
        context.try_shutdown()


def main(argv: list[str] | None = None) -> None:
    from dense_descriptor_ros.model import DescriptorNet, ModelConfig, save_checkpoint

    args = parse_args(argv)
    device = setup_run(args)
    env = environment(device)
    peak = {"fp32": matmul_peak(device, "fp32")}
    model = DescriptorNet(ModelConfig(args.backbone, width=args.width))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = save_checkpoint(Path(folder) / "bench.pt", model, method="benchmark")
        for size in args.sizes:
            result = measure(size, checkpoint, args, device)
            samples = sorted(result.pop("samples"))
            median = samples[len(samples) // 2]
            flops = count_flops(model.eval(), torch.rand(1, 3, *size))
            rows.append({"size": f"{size[1]}x{size[0]}", "half": args.half, "median_ms": median,
                         "p90_ms": samples[min(len(samples) - 1, round(0.9 * (len(samples) - 1)))],
                         "fps": 1e3 / median, "gflop_per_frame": flops / 1e9, **result})
    write_report(args.out, f"descriptor_node round trip ({args.backbone})", env, peak, rows, COLUMNS,
                 ["latency = publish -> descriptors received, one frame in flight, same process"])


if __name__ == "__main__":
    main()
