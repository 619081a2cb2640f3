#!/usr/bin/env python3
"""The peers' side of `magfleet bench`: the same iresnet with random weights, exported to ONNX
and timed in onnxruntime or OpenVINO at the same batch sizes and thread count, printed in the
same columns.

    /opt/fxvenv/bin/python Tests/Benchmarks/bench_peers.py --runtime openvino --arch iresnet100 --batch-size 1,8 --threads 2

Needs torch (to build and export the network), onnx, onnxruntime and openvino, all from PyPI; not
part of CI. The network is Tests/Fixtures/gen_engine.py's copy of MagFace's iresnet. Weights are
random (BatchNorm statistics too), so only speed is meaningful.

`onnxruntime` and `openvino` compute in float32, as magfleet does: onnxruntime's CPU provider
always does; OpenVINO is given INFERENCE_PRECISION_HINT=f32 (it would pick bf16 on a CPU with
AMX or AVX512_BF16), and the script checks the compiled model kept it. `openvino-default` is
OpenVINO as a user runs it, with no precision hint; the precision it picked goes to stderr. OpenVINO gets a static shape per
batch size, one stream and the latency hint, with its thread count set. Peak RSS is the
process's (torch is loaded only when the ONNX file has to be made).
"""
import argparse
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Fixtures"))

PRESETS = {"iresnet18": [2, 2, 2, 2], "iresnet34": [3, 4, 6, 3], "iresnet50": [3, 4, 14, 3], "iresnet100": [3, 13, 30, 3]}
GFLOP = {"iresnet18": 5.22, "iresnet34": 9.09, "iresnet50": 12.64, "iresnet100": 24.18}


def export(arch, path):
    import torch
    from gen_engine import IBasicBlock, IResNet
    torch.manual_seed(0)
    model = IResNet(IBasicBlock, PRESETS[arch]).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.05, 0.15)  # keep the residual sums finite, as magfleet does
    x = torch.zeros(1, 3, 112, 112)
    kwargs = dict(input_names=["input"], output_names=["embedding"], dynamic_axes={"input": {0: "n"}, "embedding": {0: "n"}}, opset_version=17)
    try:
        torch.onnx.export(model, x, path, dynamo=False, **kwargs)
    except TypeError:
        torch.onnx.export(model, x, path, **kwargs)


def onnxruntime_runner(path, threads):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return ort.__version__, lambda n: (lambda x: sess.run(None, {"input": x}))


def openvino_runner(path, threads, f32=True):
    """OpenVINO held to float32 (`f32`), or in its default configuration as a user would run
    it, with no precision hint: it then picks bf16 on CPUs with AMX or AVX512_BF16. Either way
    the precision it compiled for is printed."""
    import openvino as ov
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    if f32:
        config["INFERENCE_PRECISION_HINT"] = "f32"

    def make(n):
        model = core.read_model(path)
        model.reshape([n, 3, 112, 112])
        compiled = core.compile_model(model, "CPU", config)
        precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        if f32 and precision not in ("f32", "<Type: 'float32'>") and "float32" not in precision:
            sys.exit(f"bench_peers: OpenVINO compiled for {precision}, not f32")
        print(f"# openvino batch {n}: compiled for {precision}", file=sys.stderr)
        request = compiled.create_infer_request()
        return lambda x: request.infer({0: x})

    return ov.__version__, make


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="iresnet100", choices=sorted(PRESETS))
    ap.add_argument("--batch-size", "--batch", dest="batch", default="1,8,32")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--min-seconds", type=float, default=5.0)
    ap.add_argument("--min-iterations", type=int, default=2)
    ap.add_argument("--onnx", help="reuse (or create) the exported model at this path instead of a temporary one")
    ap.add_argument("--runtime", default="onnxruntime", choices=["onnxruntime", "openvino", "openvino-default"],
                    help="openvino: float32 (INFERENCE_PRECISION_HINT=f32); openvino-default: no hint")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx or os.path.join(tmp, f"{args.arch}.onnx")
        if not os.path.exists(path):
            export(args.arch, path)
        if args.runtime == "onnxruntime":
            version, make_runner = onnxruntime_runner(path, args.threads)
        else:
            version, make_runner = openvino_runner(path, args.threads, f32=args.runtime == "openvino")
        time_batches(args, version, make_runner)


def time_batches(args, version, make_runner):
    """Times each batch size: one warm-up pass, then passes until --min-seconds; prints medians."""
    gflop = GFLOP[args.arch]
    peak = lambda: f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    precision = "default precision" if args.runtime == "openvino-default" else "float32"
    print(f"{args.runtime} {version}: {args.arch} random weights, {precision}, {gflop} GFLOP/image, {args.threads} threads")
    print("batch  passes  ms/batch  img/s   ms/image  GFLOP/s  peak RSS")
    rng = np.random.default_rng(0)
    for n in [int(b) for b in args.batch.split(",")]:
        x = rng.uniform(-1, 1, size=(n, 3, 112, 112)).astype(np.float32)
        run = make_runner(n)
        run(x)  # warm-up
        times = []
        while len(times) < args.min_iterations or sum(times) < args.min_seconds:
            t = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        print(f"{n:5d}  {len(times):6d}  {med * 1000:8.1f}  {n / med:6.2f}  {med * 1000 / n:8.1f}  {n / med * gflop:7.1f}  {peak()}")


if __name__ == "__main__":
    main()
