"""The gpusafe command line: ``lint``, ``oracle``, ``convert``, ``bench``, ``passes``, ``rules``.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 unusable input or usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gpusafe import __version__
from gpusafe.errors import GpusafeError

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2


def _error(message: str) -> None:
    print(f"gpusafe: error: {message}", file=sys.stderr)


def cmd_lint(args) -> int:
    from gpusafe.lint import JSON_SCHEMA, lint_file, load_profile, render_table

    sources = _module_sources(args.report) if args.report else None
    extra_fixes = _lint_fixes(args.plugin, sources)
    profile = load_profile(args.profile, args.config)
    if args.model_explorer and len(args.models) != 1:
        raise GpusafeError("--model-explorer writes the node data of one model: give one .tflite")
    results, status = [], EXIT_OK
    for path in args.models:
        try:
            report = lint_file(path, profile, extra_fixes, args.max_bytes, sources)
        except GpusafeError as e:
            _error(str(e))
            results.append({"file": path, "error": str(e)})
            status = EXIT_INPUT
            continue
        results.append(report.to_json())
        if args.model_explorer:
            from gpusafe.lint.explorer import write_node_data

            write_node_data(report, path, args.model_explorer)
        if report.fails(args.fail_on) and status == EXIT_OK:
            status = EXIT_FINDINGS
        if not args.json:
            print(render_table(report, None if args.all else args.max_rows))
    if args.json:
        print(json.dumps({"schema": JSON_SCHEMA, "profile": profile.name, "results": results}, indent=2))
    return status


def _lint_fixes(plugins: list[str], sources: dict | None):
    """The plugins' fixes for lint findings: with --plugin, the named plugins and the installed
    entry points (this needs torch); without, none, so that linting never imports torch. With
    the modules of --report, a rewrite is named only where its op ran."""
    if not plugins:
        from gpusafe.lint import no_extra_fixes

        return no_extra_fixes
    from gpusafe import catalog
    from gpusafe.fx import module_ops

    return catalog.load(plugins).fix_finder(module_ops(sources) if sources is not None else None)


def _module_sources(report: str) -> dict[str, dict[str, list[str]]]:
    """The module_sources of every graph in a report.json of gpusafe convert (one graph, or a
    split's), merged: module path -> aten op -> source lines."""
    try:
        data = json.loads(Path(report).read_text())
    except (OSError, ValueError) as e:
        raise GpusafeError(f"--report {report}: not a readable report.json ({e})") from None
    graphs = list(data.get("graphs", {}).values()) if isinstance(data.get("graphs"), dict) else [data]
    if not all(isinstance(g, dict) and isinstance(g.get("module_sources"), dict) for g in graphs):
        raise GpusafeError(f"--report {report}: no module_sources in it (not a report.json of this gpusafe convert)")
    merged: dict[str, dict[str, list[str]]] = {}
    for graph in graphs:
        for path, ops in graph["module_sources"].items():
            for op, lines in ops.items():
                known = merged.setdefault(path, {}).get(op, [])
                merged[path][op] = sorted({*known, *lines})
    return merged


def cmd_explore(args) -> int:
    """Lint a model and open it in Model Explorer with the lint verdict of every op as node data."""
    import tempfile

    from gpusafe.lint import lint_file, load_profile
    from gpusafe.lint.explorer import write_node_data

    try:
        import model_explorer
    except ImportError:
        raise GpusafeError("gpusafe explore needs Model Explorer: pip install 'gpusafe[explore]'") from None
    report = lint_file(args.model, load_profile(args.profile, None))
    data = write_node_data(report, args.model, Path(tempfile.mkdtemp()) / f"{Path(args.model).stem}.lint.json")
    print(f"{report.summary()}; node data in {data}", file=sys.stderr)
    # the flatbuffer adapter draws one node per operator, with the operator's index as its id
    config = model_explorer.config().add_model_from_path(str(Path(args.model).resolve()),
                                                         adapterId="builtin_tflite_flatbuffer")
    config.add_node_data_from_path(str(data))
    model_explorer.visualize_from_config(config, host=args.host, port=args.port,
                                         no_open_in_browser=args.no_browser)
    return EXIT_OK


def cmd_oracle(args) -> int:
    from gpusafe.runtime import oracle

    reason = oracle.unavailable_reason()
    if reason:
        _error(f"the GPU oracle cannot run here: {reason}")
        return EXIT_INPUT
    from gpusafe.lint import read_model

    for path in args.models:
        read_model(path)  # refuse unusable files with the linter's one-line errors first
    verdicts = oracle.compile_many(args.models, timeout=args.timeout)
    if args.json:
        print(json.dumps({"schema": "gpusafe.oracle/1", "results": [v.to_json() for v in verdicts]}, indent=2))
    else:
        for v in verdicts:
            print(f"{v.path}: {v.status}" + (f" ({v.gpu_ops} ops on GPU)" if v.gpu_ops is not None else ""))
            for op, reason in v.rejected:
                print(f"  {op}: {reason}")
            if v.status in ("load-failed", "crashed"):
                print(f"  {v.detail}")
    return EXIT_OK if all(v.accepted for v in verdicts) else EXIT_FINDINGS


def _chosen_rewrites(args, catalog) -> list[str]:
    chosen = [catalog.get(name).name for name in args.rewrite]  # unknown names: one-line error
    if args.sampler:
        chosen += [name for name in (f"grid-sample-{args.sampler}", f"deformable-attention-{args.sampler}")
                   if name in catalog.specs]
    return chosen


def _import_factory(spec: str):
    """``module:attr`` -> the attribute, importing the module from the working directory first
    (as uvicorn-style loaders do), then from the installed packages."""
    import importlib
    import os

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise GpusafeError(f"--model {spec!r}: expected MODULE:FACTORY, e.g. mypkg.models:build")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise GpusafeError(f"--model {spec!r}: no module {e.name!r} in the working directory ({os.getcwd()}) "
                               "or the installed packages") from None
        raise GpusafeError(f"--model {spec!r}: importing it failed: {e}") from None
    except Exception as e:  # the user's code: one line, named
        raise GpusafeError(f"--model {spec!r}: importing it failed: {type(e).__name__}: {e}") from None
    if not hasattr(module, attribute):
        raise GpusafeError(f"--model {spec!r}: {module_name} ({getattr(module, '__file__', '?')}) has no {attribute!r}")
    return getattr(module, attribute)


def _input_shapes(args) -> list[list[int]]:
    if args.size is not None and args.input_shape:
        raise GpusafeError("give --input-shape or --size (an image input 1,3,SIZE,SIZE), not both")
    if args.size is not None:
        return [[1, 3, args.size, args.size]]
    if not args.input_shape:
        raise GpusafeError("convert module needs --input-shape (e.g. --input-shape 1,3,64,64, once per input) "
                           "or --size for one square image")
    try:
        dims = [[int(d) for d in shape.split(",")] for shape in args.input_shape]
    except ValueError:
        raise GpusafeError(f"--input-shape {args.input_shape}: expected integers like 1,3,64,64") from None
    if any(d <= 0 for shape in dims for d in shape):
        raise GpusafeError(f"--input-shape {args.input_shape}: every dimension must be positive")
    return dims


def _user_module(args):
    """(the factory's module with flat tensor outputs, random inputs, output names)."""
    import torch

    from gpusafe.graphs.outputs import flat_outputs

    factory = _import_factory(args.model)
    try:
        model = factory()
    except Exception as e:  # the user's code: one line, named
        raise GpusafeError(f"--model {args.model!r}: the factory raised {type(e).__name__}: {e}") from None
    if not isinstance(model, torch.nn.Module):
        raise GpusafeError(f"--model {args.model!r} returned {type(model).__name__}, not a torch.nn.Module")
    generator = torch.Generator().manual_seed(args.seed)
    sample = tuple(torch.rand(*d, generator=generator) for d in _input_shapes(args))
    model, names = flat_outputs(model, sample)
    return model, sample, names


def _convert_user_module(args, options):
    from gpusafe.convert.pipeline import convert_module

    if args.weights:
        raise GpusafeError("--weights is for 'convert dfine' and 'convert transformers'; 'convert module' builds its "
                           "model with --model")
    if not args.model:
        raise GpusafeError("convert module needs --model MODULE:FACTORY")
    model, sample, names = _user_module(args)
    description = {"module": args.model, "outputs": names}
    if args.split:
        image = sample[0].shape
        if len(sample) != 1 or len(image) != 4 or image[0] != 1 or image[2] != image[3] or len(names) != 2:
            raise GpusafeError(f"--split takes a detector: one square image input [1, C, S, S] and two outputs "
                               f"(logits, boxes); this model takes {[list(s.shape) for s in sample]} and returns "
                               f"{names}")
        return _convert_split(args, model, description, {}, options, size=image[2])
    return convert_module(model, sample, args.out, description=description, **options)


def _detector(args):
    """(model, description, labels, manifest head) for 'convert dfine' and 'convert transformers'."""
    from gpusafe.graphs.detectors import DetectorOutputs, saved_detector
    from gpusafe.graphs.dfine import load_dfine

    if args.family == "transformers":
        if not args.weights:
            raise GpusafeError("convert transformers needs --weights DIR (a detector saved with save_pretrained)")
        return saved_detector(args.weights, args.size)
    preset = args.preset or "s"
    source = {"weights": str(args.weights)} if args.weights else {"preset": preset, "seed": args.seed}
    detector = load_dfine(preset, weights=args.weights, seed=args.seed)
    return DetectorOutputs(detector), {"family": "d-fine", **source}, detector.config.id2label, None


def cmd_convert(args) -> int:
    from gpusafe import catalog as catalogs
    from gpusafe.convert.pipeline import convert_detector

    catalog = catalogs.load(args.plugin)
    options = dict(profile=args.profile, choose=_chosen_rewrites(args, catalog), catalog=catalog, mark=not args.no_mark,
                   weights_dtype=args.weights_dtype)
    if args.family == "module":
        converted = _convert_user_module(args, options)
        if isinstance(converted, int):
            return converted  # the split printed its own summary
        report, passes = converted
    else:
        if args.model or args.input_shape:
            raise GpusafeError("--model and --input-shape are for 'convert module'")
        args.size = 640 if args.size is None else args.size
        model, description, labels, head = _detector(args)
        if args.split:
            return _convert_split(args, model, description, labels, dict(options, head=head))
        report, passes = convert_detector(model, args.size, args.out, seed=args.seed, description=description,
                                          labels=labels, head=head, **options)
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    cpu = report["cpu_check"]
    print(f"wrote {report['tflite']['path']} ({report['tflite']['bytes'] / 1e6:.1f} MB, {report['tflite']['ops']} ops) "
          f"and {args.out}/report.json")
    print(passes.text())
    if report["marking"]["note"]:
        print(f"  deformable attention: {report['marking']['note']}")
    if "queries" in cpu:
        worst = cpu["max_abs_error_matched"]
        print(f"  CPU interpreter vs PyTorch: {cpu['matched']} of {cpu['queries']} queries match (logits max |err| "
              f"{worst['logits']:.2g}, boxes {worst['boxes']:.2g}); {cpu['boundary_swaps']} top-k boundary swaps")
    else:
        errors = ", ".join(f"{e:.2g}" for e in cpu["max_abs_error"])
        print(f"  CPU interpreter vs PyTorch: max |err| per output {errors}")
    print(f"  {_fp16_line(report['fp16'])}")
    _print_weights(report["weights"])
    print(f"  lint: {report['lint']['summary']} (gpusafe lint {report['tflite']['path']} lists each finding)")
    return EXIT_OK


def _convert_split(args, model, description, labels, options, size=None) -> int:
    from gpusafe.convert.split import convert_split_detector

    report = convert_split_detector(model, size or args.size, args.out, seed=args.seed, description=description,
                                    labels=labels, **options)
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"wrote {args.out}/graph_a.tflite, graph_b.tflite, host.json, manifest.json and report.json")
    if report["marking"]["note"]:
        print(f"  deformable attention: {report['marking']['note']}")
    for name, part in report["graphs"].items():
        print(f"  {name}: {part['tflite']['ops']} ops, {part['tflite']['bytes'] / 1e6:.1f} MB; "
              f"lint: {part['lint']['summary']}; {_fp16_line(part['fp16'])}")
    print(f"  host step (numpy): {', '.join(report['host_ops'])}")
    cpu = report["cpu_check"]
    worst = cpu["max_abs_error_matched"]
    print(f"  chain (A and B on the LiteRT CPU interpreter, host in numpy) vs PyTorch: {cpu['matched']} of "
          f"{cpu['queries']} queries match (logits max |err| {worst['logits']:.2g}, boxes {worst['boxes']:.2g})")
    _print_weights(report["weights"])
    return EXIT_OK


def _print_weights(weights: dict) -> None:
    if weights["dtype"] != "fp16":
        return
    graphs = weights["graphs"].values()
    before, after = sum(g["bytes_fp32"] for g in graphs) / 1e6, sum(g["bytes"] for g in graphs) / 1e6
    moved = weights["vs_fp32_weights"]
    if "queries" in moved:
        worst = moved["max_abs_error_all"]
        change = (f"logits max |err| {worst['logits']:.2g}, boxes {worst['boxes']:.2g} over the {moved['queries']} "
                  f"queries matched ({moved['matched']} within logits {moved['tolerance']['logits']:g} and boxes "
                  f"{moved['tolerance']['boxes']:g})")
    else:
        change = "max |err| per output " + ", ".join(f"{e:.2g}" for e in moved["max_abs_error"])
    print(f"  fp16 weights: {before:.1f} MB -> {after:.1f} MB ({sum(g['dequantize_ops'] for g in graphs)} DEQUANTIZE);"
          f" against fp32 weights on the CPU interpreter: {change}")


def _fp16_line(fp16: dict) -> str:
    before = fp16["before_passes"]
    ops = ", ".join(sorted({f["op"] for f in before}))
    fixed = f"; before the passes {len(before)} would ({ops})" if before else ""
    if fp16["clean"]:
        return f"fp16: no op overflows 65504 on the sample input{fixed}; {_precision(fp16['precision'])}"
    ops = "; ".join(f"{f['op']} ({f['node']}) {f['kind']} {f['magnitude']:.3g}" for f in fp16["findings"][:5])
    return f"fp16: {len(fp16['findings'])} ops overflow 65504 on the sample input: {ops}{fixed}"


def _precision(precision: dict) -> str:
    worst = max((o["relative_error"] for o in precision["outputs"]), default=0.0)
    top = precision["amplifiers"][:1]
    grows = f"; most growth: {top[0]['op']} ({top[0]['node']}) x{top[0]['gain']:.3g}" if top else ""
    return f"with fp16 storage the outputs move by up to {worst:.2g} (relative){grows}"


def cmd_detect(args) -> int:
    from gpusafe.runtime.detect import detect

    if args.fp32 and not args.gpu:
        raise GpusafeError("--fp32 picks the GPU delegate's kernels: use it with --gpu")
    result = detect(args.out_dir, args.image, threshold=args.threshold, iou=args.iou, boxes_png=args.out,
                    gpu=args.gpu, fp32=args.fp32)
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    print(f"{args.image}: {len(result['detections'])} detections (score >= {args.threshold}, NMS IoU {args.iou}, "
          f"{result['runtime']})")
    for d in result["detections"]:
        print(f"  {d['label']:<20} {d['score']:.3f}  [{', '.join(f'{v:.1f}' for v in d['box'])}]")
    if args.out:
        print(f"boxes drawn on {args.out}")
    return EXIT_OK


def cmd_verify(args) -> int:
    from gpusafe.check.verify import verify

    if args.probes < 0:
        raise GpusafeError("--probes takes a count of tensors, 0 or more")
    result = verify(args.out_dir, args.images, threshold=args.threshold, gpu=not args.no_gpu, probes=args.probes)
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    for entry in result["results"]:
        print(f"{entry['image']}:")
        _print_graphs(entry["graphs"], "")
        print(f"  end to end: {_agreement(entry)}")
        print(f"  PyTorch itself with fp16 storage (the yardstick for fp16): {_agreement(entry['pytorch_fp16'])}")
        for key, precision in (("gpu", "fp16"), ("gpu_fp32", "fp32")):
            if key in entry:
                _print_graphs(entry[key]["graphs"], f" on the GPU ({precision})")
                print(f"  end to end on the GPU ({precision}): {_agreement(entry[key])}")
        if "fp16_excess" in entry.get("gpu", {}):
            excess = entry["gpu"]["fp16_excess"]
            cells = "; ".join(f"{graph}[{i}] {row['excess']:.3g}x" for graph, rows in excess.items()
                              for i, row in enumerate(rows))
            print(f"  GPU fp16 error / PyTorch fp16-storage error, per graph output: {cells}")
        for graph, found in entry.get("gpu", {}).get("probes", {}).items():
            worst = ", ".join(f"op {p['op_index']} {p['op']} {p['shape']} (x{p['growth']:.3g}, relative error "
                              f"{p['relative_error']:.2g})" for p in found["largest_growth"][:3])
            print(f"  {graph}: the GPU's fp16 error grows most at {worst} ({len(found['probes'])} probes)")
    print(f"GPU: {result['gpu']}")
    return EXIT_OK


def _print_graphs(graphs: dict, where: str) -> None:
    for graph, outputs in graphs.items():
        cells = "; ".join(f"max |err| {o['max_abs_error']:.2g}, corr {o['correlation']:.6f}" for o in outputs)
        print(f"  {graph}{where} vs PyTorch on the same inputs: {cells}")


def _agreement(entry: dict) -> str:
    q, d = entry["queries"], entry["detections"]
    return (f"{q['matched']} of {q['queries']} queries match; {d['same_class_iou_0.99']} of {d['reference']} "
            f"PyTorch detections found with the same class at IoU >= 0.99 (min IoU {d['min_iou']:.3f}; corners "
            f"moved by up to {d['max_corner_shift_px']:.2g} px)")


def cmd_bench(args) -> int:
    progress = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    if args.what == "model":
        from gpusafe.bench.model import bench_model, render

        if not args.target:
            raise GpusafeError("bench model needs OUT, a directory written by gpusafe convert")
        if args.runs < 1 or args.threads < 1:
            raise GpusafeError("--runs and --threads take 1 or more")
        result = bench_model(args.target, runs=args.runs, threads=args.threads, gpu=not args.no_gpu,
                             progress=progress)
        print(json.dumps(result, indent=2) if args.json else render(result))
        return EXIT_OK
    from gpusafe.bench import sampling

    rows = sampling.run(out_dir=args.out, repeats=args.repeats, gpu_repeats=args.gpu_repeats, progress=progress)
    print(json.dumps({"schema": "gpusafe.bench.sampling/1", "results": rows}, indent=2) if args.json
          else sampling.render(rows))
    return EXIT_OK


def cmd_passes(args) -> int:
    from gpusafe import catalog as catalogs

    catalog = catalogs.load(args.plugin)
    if args.profile:
        pipeline = catalog.pipeline(args.profile, _chosen_rewrites(args, catalog))
        if args.json:
            print(json.dumps({"profile": args.profile, "pipeline": [catalog.get(n).to_json() for n in pipeline]},
                             indent=2))
            return EXIT_OK
        print(f"pipeline of 'gpusafe convert --profile {args.profile}', in run order:")
        for i, name in enumerate(pipeline, 1):
            spec = catalog.get(name)
            promise = spec.promise
            print(f"{i:>3}. {name:<32} {spec.kind:<8} {promise:<12} {spec.summary}")
        return EXIT_OK
    pipelines = {profile: catalog.pipeline(profile) for profile in catalogs.PIPELINES}
    if args.json:
        print(json.dumps({"default": pipelines, "passes": [s.to_json() for s in catalog.specs.values()]}, indent=2))
        return EXIT_OK
    for spec in catalog.specs.values():
        promise = spec.promise
        default_in = [profile for profile, names in pipelines.items() if spec.name in names]
        print(f"{spec.name:<24} {spec.kind:<8} {promise:<10} {spec.summary}\n"
              f"{'':<44} targets: {', '.join(spec.targets)}\n{'':<44} fixes: {', '.join(spec.fixes) or '-'}\n"
              f"{'':<44} default in: {', '.join(default_in) or 'none (choose it with --rewrite)'}")
    print("\nthe pipeline of a profile, in run order: gpusafe passes --profile mldrift|classic|strict")
    return EXIT_OK


def cmd_rules(args) -> int:
    from gpusafe.lint import PROFILES, RULES

    if args.json:
        print(json.dumps({"rules": [{"id": r.id, "severity": r.severity, "summary": r.summary, "fix": r.fix.to_json()}
                                    for r in RULES.values()],
                          "profiles": [p.to_json() for p in PROFILES.values()]}, indent=2))
        return EXIT_OK
    for r in RULES.values():
        print(f"{r.id:<20} {r.severity:<8} {r.summary}\n{'':<29} fix: {r.fix.text}")
    print("\nprofiles: " + "; ".join(f"{p.name} ({p.description})" for p in PROFILES.values()))
    return EXIT_OK


def _fail_on(value: str) -> str:
    kind, _, count = value.partition(":")
    if value in ("error", "warning", "fallback") or (kind == "partitions" and count.isdigit()):
        return value
    raise argparse.ArgumentTypeError(f"{value!r}: expected error, warning, fallback or partitions:N")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        _error(message)
        raise SystemExit(EXIT_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gpusafe", description="Make DETR-family detectors run fully on the LiteRT GPU delegate.")
    parser.add_argument("--version", action="version", version=f"gpusafe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    lint = sub.add_parser("lint", help="check .tflite files against a GPU delegate's rules",
                          description="Check .tflite files against a GPU delegate's rules. Exit 0 clean, "
                                      "1 findings at or above --fail-on, 2 unusable input.")
    lint.add_argument("models", nargs="+", metavar="MODEL.tflite")
    lint.add_argument("--profile", choices=["mldrift", "classic", "strict"], default=None,
                      help="target delegate (default: mldrift, or the config file's profile)")
    lint.add_argument("--config", metavar="FILE", help="TOML file that adds, drops or overrides rules")
    lint.add_argument("--json", action="store_true", help="print the gpusafe.lint/2 JSON report")
    lint.add_argument("--fail-on", type=_fail_on, default="error", metavar="error|warning|fallback|partitions:N",
                      help="what makes the exit code 1: a finding at or above that severity (default: error), "
                           "'fallback' (any op off the GPU), or 'partitions:N' (more than N GPU partitions)")
    lint.add_argument("--all", action="store_true", help="list every finding, not the first --max-rows")
    lint.add_argument("--max-rows", type=int, default=40, help=argparse.SUPPRESS)
    lint.add_argument("--max-bytes", type=int, default=2**31, metavar="N",
                      help="refuse files larger than N bytes (default 2 GiB, the flatbuffer limit)")
    lint.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                      help="load rewrites from MODULE (and the installed gpusafe.rewrites entry points) so that "
                           "findings name them as fixes; needs torch, which lint alone never imports")
    lint.add_argument("--report", metavar="REPORT.json",
                      help="the report.json gpusafe convert wrote beside the model: findings get the source lines of "
                           "the PyTorch code that made their op; with --plugin, a plugin rewrite is named only at "
                           "findings whose module ran the op it replaces")
    lint.add_argument("--model-explorer", metavar="OUT.json",
                      help="also write each op's verdict (GPU, or the worst finding's rule and reason) as Model "
                           "Explorer node data (load it beside the model, or use gpusafe explore)")
    lint.set_defaults(func=cmd_lint)

    explore = sub.add_parser("explore", help="open a .tflite in Model Explorer, each op coloured by its lint verdict",
                             description="Lint MODEL and serve it in Model Explorer (the explore extra) with the "
                                         "verdict of every op as node data: green on the GPU, amber a warning, red "
                                         "an op the delegate leaves to the CPU. Ctrl-C stops the server.")
    explore.add_argument("model", metavar="MODEL.tflite")
    explore.add_argument("--profile", choices=["mldrift", "classic", "strict"], default=None)
    explore.add_argument("--host", default="localhost")
    explore.add_argument("--port", type=int, default=8080)
    explore.add_argument("--no-browser", action="store_true", help="serve only; print the address")
    explore.set_defaults(func=cmd_explore)

    oracle = sub.add_parser("oracle", help="compile .tflite files GPU-only on the real delegate (ML Drift)",
                            description="Compile GPU-only with ai-edge-litert's CompiledModel (ML Drift on "
                                        "the machine's Vulkan driver). Exit 0 if every model is accepted whole.")
    oracle.add_argument("models", nargs="+", metavar="MODEL.tflite")
    oracle.add_argument("--json", action="store_true")
    oracle.add_argument("--timeout", type=float, default=300.0, help="seconds per model (default 300)")
    oracle.set_defaults(func=cmd_oracle)

    convert = sub.add_parser("convert", help="capture, rewrite and convert a detector to .tflite",
                             description="Capture with torch.export, run gpusafe's passes (each checked "
                                         "numerically), convert with litert-torch, check the result on the LiteRT "
                                         "CPU interpreter against PyTorch, and lint it.")
    convert.add_argument("family", choices=["dfine", "transformers", "module"],
                         help="dfine: transformers' D-FINE (presets or --weights); transformers: any transformers "
                              "DETR-family detector saved with save_pretrained (--weights DIR); module: any "
                              "nn.Module from --model")
    convert.add_argument("--model", metavar="MODULE:FACTORY",
                         help="for 'module': a function returning the nn.Module, e.g. mypkg.models:build")
    convert.add_argument("--input-shape", action="append", default=[], metavar="D,D,...",
                         help="for 'module': one per input, e.g. 1,3,64,64 (random values in [0, 1))")
    source = convert.add_mutually_exclusive_group()
    source.add_argument("--preset", default=None, choices=["n", "s", "m", "l", "x", "tiny"],
                        help="for 'dfine': D-FINE size, random weights (default: s)")
    source.add_argument("--weights", metavar="DIR", help="a directory saved by transformers' save_pretrained "
                                                         "(dfine: a D-FINE; transformers: any supported family)")
    convert.add_argument("--size", type=int, default=None,
                         help="square image input size (dfine, transformers: default 640; module: the input "
                              "1,3,SIZE,SIZE)")
    convert.add_argument("--profile", choices=["mldrift", "classic", "strict"], default="mldrift")
    convert.add_argument("--seed", type=int, default=0, help="random init and sample input seed")
    convert.add_argument("--sampler", choices=["gather", "separable", "dense"], default=None,
                         help="sampler of the grid_sample and deformable-attention rewrites "
                              "(default: gather for mldrift, separable otherwise)")
    convert.add_argument("--rewrite", action="append", default=[], metavar="NAME",
                         help="run rewrite NAME instead of the profile's default one for the same op (repeatable)")
    convert.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                         help="import MODULE first: its declared rewrites join the pipeline (repeatable; "
                              "installed 'gpusafe.rewrites' entry points load without it)")
    convert.add_argument("--split", action="store_true",
                         help="split a detector at the query selection into graph_a.tflite, a numpy host step "
                              "(host.json) and graph_b.tflite, with manifest.json (dfine, or a module taking one "
                              "square image and returning logits and boxes)")
    convert.add_argument("--no-mark", action="store_true",
                         help="capture without marking deformable attention: its grid_samples go through the "
                              "grid-sample rewrites (marking is automatic, and falls back to this when it fails)")
    convert.add_argument("--weights-dtype", choices=("fp32", "fp16"), default="fp32",
                         help="fp16: store convolution and fully-connected weights as float16 behind DEQUANTIZE "
                              "(about half the file; the GPU delegate folds it) after the CPU check; the report "
                              "says how far that moves the outputs (default: fp32)")
    convert.add_argument("--out", required=True, metavar="DIR",
                         help="writes DIR/model.tflite (or the split files) and DIR/report.json")
    convert.add_argument("--json", action="store_true", help="print report.json instead of the summary")
    convert.set_defaults(func=cmd_convert)

    detect = sub.add_parser("detect", help="run a converted detector on an image and print (or draw) its boxes",
                            description="Run OUT (written by gpusafe convert) on IMAGE: preprocessing from "
                                        "OUT/manifest.json, the graphs on the LiteRT CPU interpreter (the host step "
                                        "of a split in numpy), sigmoid, threshold, NMS. Needs no torch.")
    detect.add_argument("out_dir", metavar="OUT", help="a directory written by gpusafe convert")
    detect.add_argument("image", metavar="IMAGE")
    detect.add_argument("--out", metavar="PNG", help="draw the boxes on the image and save it here")
    detect.add_argument("--threshold", type=float, default=0.5, help="lowest score kept (default 0.5)")
    detect.add_argument("--iou", type=float, default=0.5, help="NMS IoU threshold (default 0.5)")
    detect.add_argument("--gpu", action="store_true",
                        help="run the graphs on the GPU delegate (LiteRT CompiledModel, fp16) instead of the CPU")
    detect.add_argument("--fp32", action="store_true",
                        help="with --gpu: the delegate's fp32 kernels (as an app that disallows precision loss "
                             "runs them); matches PyTorch where fp16 drifts")
    detect.add_argument("--json", action="store_true")
    detect.set_defaults(func=cmd_detect)

    verify = sub.add_parser("verify", help="compare a converted detector with the PyTorch model it came from",
                            description="Per-graph errors, matched queries and detection IoU of OUT against the "
                                        "PyTorch model rebuilt from OUT/manifest.json, on IMAGES (default: the "
                                        "conversion's sample image); also on the GPU oracle (fp16) where it runs.")
    verify.add_argument("out_dir", metavar="OUT")
    verify.add_argument("images", nargs="*", metavar="IMAGE")
    verify.add_argument("--threshold", type=float, default=0.5, help="score threshold of the detections compared")
    verify.add_argument("--no-gpu", action="store_true", help="skip the GPU oracle")
    verify.add_argument("--probes", type=int, default=0, metavar="N",
                        help="on the GPU oracle, also expose N intermediate tensors per graph as extra outputs "
                             "and say where the GPU's fp16 error grows (first image)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=cmd_verify)

    bench = sub.add_parser("bench", help="benchmarks: bench model OUT, bench sampling",
                           description="model: a converted detector's latency per graph and end to end, on the "
                                       "LiteRT CPU interpreter and the GPU oracle (fp16 and fp32 kernels); "
                                       "sampling: every grid_sample variant on D-FINE-S shapes.")
    bench.add_argument("what", choices=["model", "sampling"])
    bench.add_argument("target", nargs="?", metavar="OUT", help="for 'model': a directory written by gpusafe convert")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--runs", type=int, default=5, help="model: timed runs per part, after one warm-up (default 5)")
    bench.add_argument("--threads", type=int, default=2, help="model: CPU interpreter threads (default 2)")
    bench.add_argument("--no-gpu", action="store_true", help="model: skip the GPU oracle")
    bench.add_argument("--out", metavar="DIR", help="sampling: keep each variant's .tflite in DIR")
    bench.add_argument("--repeats", type=int, default=20, help="CPU runs per variant (median; default 20)")
    bench.add_argument("--gpu-repeats", type=int, default=5, help="GPU-oracle runs per variant (median; default 5)")
    bench.set_defaults(func=cmd_bench)

    passes = sub.add_parser("passes", help="list the registered passes and rewrites",
                            description="List registered passes and rewrites: name, targets, the lint findings "
                                        "they fix, exactness, and the profiles that run them by default.")
    passes.add_argument("--json", action="store_true")
    passes.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="load rewrites from MODULE")
    passes.add_argument("--profile", choices=["mldrift", "classic", "strict"],
                        help="print the pipeline 'gpusafe convert --profile PROFILE' runs, in run order")
    passes.add_argument("--rewrite", action="append", default=[], metavar="NAME",
                        help="with --profile: as convert --rewrite NAME would run it")
    passes.add_argument("--sampler", choices=["gather", "separable", "dense"], default=None,
                        help="with --profile: as convert --sampler would run it")
    passes.set_defaults(func=cmd_passes)

    rules = sub.add_parser("rules", help="list lint rules and profiles")
    rules.add_argument("--json", action="store_true")
    rules.set_defaults(func=cmd_rules)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GpusafeError as e:
        _error(str(e))
        return EXIT_INPUT
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
