"""The GPU oracle: compile a .tflite GPU-only with the real LiteRT GPU delegate.

ai-edge-litert's CompiledModel with ``HardwareAccelerator.GPU`` alone runs ML Drift, the
delegate phones use today, here over WebGPU on Mesa's software Vulkan (lavapipe). A compile
that succeeds means the delegate took every op; a failure lists "OP: reason" for each op it
rejected on the native log. Each model is compiled in a child process: the native log is read
from its stderr, and a crash or hang in native code cannot take the caller down.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.json"
_UNSUPPORTED_HEADER = "Following operations are not supported by GPU delegate:"
# "OP: reason", "OP(v3): reason", "CUSTOM code: reason"; the reason may be empty.
_OP_LINE = re.compile(r"^([A-Z][A-Z0-9_]*(?:\([^)]*\))?)( [A-Za-z0-9_.]+)?:(?: (.*))?$")
_SPLIT_LINE = re.compile(r"(\d+) operations will run on the GPU, and the remaining (\d+)")


@dataclass
class OracleVerdict:
    """What the real delegate said about one model."""

    path: str
    # "accepted", "rejected" (ops left to the CPU), "refused" (the delegate failed on the whole
    # model without naming ops: dynamic tensors), "load-failed" (LiteRT itself could not load
    # it), "crashed"
    status: str
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (op, reason) from the log
    gpu_ops: int | None = None  # ops in the delegated partition, when the log says
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    def to_json(self) -> dict:
        return asdict(self)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    if "XDG_RUNTIME_DIR" not in env or not Path(env["XDG_RUNTIME_DIR"]).is_dir():
        runtime = Path(tempfile.gettempdir()) / f"gpusafe-xdg-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
    if "VK_ICD_FILENAMES" not in env and Path(LAVAPIPE_ICD).exists():
        env["VK_ICD_FILENAMES"] = LAVAPIPE_ICD
    return env


def unavailable_reason() -> str | None:
    """None when the oracle can run here, else why not (for skips and CLI errors)."""
    try:
        import ai_edge_litert.compiled_model  # noqa: F401
    except ImportError:
        return "ai-edge-litert is not installed (pip install 'gpusafe[oracle]')"
    icd = environment().get("VK_ICD_FILENAMES")
    if not icd or not Path(icd).exists():
        return f"no Vulkan driver: {LAVAPIPE_ICD} is missing (install Mesa >= 25 mesa-vulkan-drivers)"
    return None


def parse_log(log: str) -> tuple[list[tuple[str, str]], int | None]:
    """Rejected (op, reason) pairs and the GPU op count from the delegate's native log."""
    rejected: list[tuple[str, str]] = []
    in_list = False
    for line in log.splitlines():
        if _UNSUPPORTED_HEADER in line:
            in_list = True
            continue
        if in_list:
            match = _OP_LINE.match(line.strip())
            if match:
                op, code, reason = match.groups()
                reason = (reason or "").strip()
                rejected.append((op, f"{code.strip()}: {reason}" if code else reason))
                continue
            in_list = False
    split = _SPLIT_LINE.search(log)
    gpu_ops = int(split.group(1)) if split else (0 if "No operations will run on the GPU" in log else None)
    return rejected, gpu_ops


def _classify(path: str, result: dict | None, failure: str, stderr: str) -> OracleVerdict:
    """The verdict on one model from the child's ``result`` (None when the child died: ``failure``
    says how) and the native log."""
    rejected, gpu_ops = parse_log(stderr)
    if result is None:
        return OracleVerdict(path, "crashed", rejected, gpu_ops, failure)
    if result["ok"]:
        return OracleVerdict(path, "accepted", [], None, "")
    message = result["error"]
    if "not accelerated" in message:
        return OracleVerdict(path, "rejected", rejected, gpu_ops, message)
    reasons = [ln.strip() for ln in stderr.splitlines() if ln.startswith("ERROR:") and "litert" not in ln]
    if not reasons and "Failed to modify graph with delegate" in message:
        return OracleVerdict(path, "refused", rejected, 0, message)
    return OracleVerdict(path, "load-failed", rejected, gpu_ops, "; ".join(reasons) or message)


def compile_gpu(path: str | Path, timeout: float = 120.0) -> OracleVerdict:
    """Compile ``path`` GPU-only in a child process and report the delegate's verdict."""
    cmd = [sys.executable, "-m", "gpusafe.runtime.oracle", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=environment())
    except subprocess.TimeoutExpired:
        return OracleVerdict(str(path), "crashed", detail=f"timed out after {timeout:.0f} s")
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        result = None
    return _classify(str(path), result, f"exit code {proc.returncode}", proc.stderr)


_MARK = "@@gpusafe-oracle-model "
_RESULT = "@@gpusafe-oracle-result "


def _compile_batch(paths: list[str], timeout: float) -> list[OracleVerdict]:
    """Compile ``paths`` in as few child processes as possible: one child compiles models in
    turn, marking each model's part of the native log; a model that crashes or hangs the child is
    "crashed", and a new child goes on with the next one."""
    verdicts: list[OracleVerdict] = []
    while len(verdicts) < len(paths):
        rest = paths[len(verdicts):]
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen([sys.executable, "-m", "gpusafe.runtime.oracle", "--batch"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, text=True, env=environment())
            proc.stdin.write("\n".join(rest) + "\n")
            proc.stdin.close()
            results, failure = _read_results(proc, len(rest), timeout)
            log.seek(0)
            logs = _split_log(log.read(), len(rest))
        verdicts += [_classify(rest[i], result, "", logs[i]) for i, result in enumerate(results)]
        if failure is not None:
            verdicts.append(_classify(rest[len(results)], None, failure, logs[len(results)]))
    return verdicts


def _read_results(proc: subprocess.Popen, count: int, timeout: float) -> tuple[list[dict], str | None]:
    """The child's per-model results, and why it stopped early (None when it did not)."""
    import selectors

    results: list[dict] = []
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while len(results) < count:
            if not sel.select(timeout):
                proc.kill()
                proc.wait()
                return results, f"timed out after {timeout:.0f} s"
            line = proc.stdout.readline()
            if not line:
                return results, f"exit code {proc.wait()}"
            if line.startswith(_RESULT):  # the native library prints to stdout too
                results.append(json.loads(line[len(_RESULT):]))
    proc.wait()
    return results, None


def _split_log(log: str, count: int) -> list[str]:
    parts = [""] * (count + 1)
    index = -1
    for line in log.splitlines(keepends=True):
        if line.startswith(_MARK):
            index = int(line[len(_MARK):])
            continue
        parts[index + 1 if index < 0 else index] += line
    return parts


def compile_many(paths, workers: int = 2, timeout: float = 120.0) -> list[OracleVerdict]:
    """Verdicts for ``paths`` in order; ``workers`` child processes share the models."""
    paths = [str(p) for p in paths]
    chunks = [paths[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda chunk: _compile_batch(chunk, timeout), chunks))
    verdicts = [None] * len(paths)
    for w, part in enumerate(parts):
        verdicts[w::workers] = part
    return verdicts


class OracleRunError(RuntimeError):
    """The real delegate could not compile or run the model."""


def run_gpu(path: str | Path, inputs, timeout: float = 300.0, repeats: int = 1, fp32: bool = False):
    """Run ``path`` on the real GPU delegate (fp16 kernels, as phones run them; ``fp32``: the
    delegate's fp32 kernels, to tell its arithmetic from fp16 rounding); returns its outputs in
    signature order (args_0.. in, output_0.. out, as litert-torch names them). With ``repeats``
    > 1 it also returns the median seconds of one run (after one untimed warm-up run):
    ``(outputs, seconds)``."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        source, result = Path(tmp) / "inputs.npz", Path(tmp) / "outputs.npz"
        np.savez(source, *[np.asarray(x, dtype=np.float32) for x in inputs])
        cmd = [sys.executable, "-m", "gpusafe.runtime.oracle", str(path), "--run", str(source), str(result),
               str(repeats), "fp32" if fp32 else "fp16"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=environment())
        except subprocess.TimeoutExpired:
            raise OracleRunError(f"{path}: GPU run timed out after {timeout:.0f} s") from None
        if proc.returncode != 0 or not result.exists():
            reasons = [ln for ln in proc.stderr.splitlines() if "ERROR" in ln or ": " in ln and ln.isupper()]
            raise OracleRunError(f"{path}: GPU run failed (exit {proc.returncode}): {'; '.join(reasons[-3:])}")
        with np.load(result) as data:
            outputs = [data[f"arr_{i}"] for i in range(len(data.files) - 1)]
            seconds = float(data[f"arr_{len(data.files) - 1}"])
        return (outputs, seconds) if repeats > 1 else outputs


def signature_position(name: str) -> int:
    """litert-torch names signature tensors args_0, args_1 / output_0, output_1 in torch order."""
    suffix = name.rsplit("_", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0


def _run_worker(path: str, source: str, result: str, repeats: int, precision: str) -> None:
    import time

    import numpy as np
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.gpu_options import GpuOptions
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import Options

    options = Options(HardwareAccelerator.GPU, gpu_options=GpuOptions(enforce_f32=precision == "fp32"))
    model = CompiledModel.from_file(path, options=options)
    key = next(iter(model.get_signature_list()))
    with np.load(source) as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    in_names = sorted(model.get_input_tensor_details(key), key=signature_position)
    out_details = model.get_output_tensor_details(key)
    out_names = sorted(out_details, key=signature_position)
    inputs = {}
    for name, array in zip(in_names, arrays, strict=True):
        inputs[name] = model.create_input_buffer_by_name(key, name)
        inputs[name].write(array)
    outputs = {name: model.create_output_buffer_by_name(key, name) for name in out_names}
    times = []
    if repeats > 1:  # a warm-up run, not timed: the first run pays for pipeline creation
        model.run_by_name(key, inputs, outputs)
        outputs[out_names[0]].read(1, np.float32)
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        model.run_by_name(key, inputs, outputs)
        outputs[out_names[0]].read(1, np.float32)  # reading waits for the GPU to finish
        times.append(time.perf_counter() - start)
    results = []
    for name in out_names:
        shape = tuple(out_details[name]["shape"])
        count = int(np.prod(shape)) if shape else 1
        results.append(outputs[name].read(count, np.float32).reshape(shape))
    np.savez(result, *results, np.median(times))


def _worker(path: str, prefix: str = "") -> None:
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator

    try:
        CompiledModel.from_file(path, hardware_accel=HardwareAccelerator.GPU)
        result = {"ok": True}
    except Exception as e:  # the native layer raises RuntimeError with its own text
        result = {"ok": False, "error": " ".join(str(e).split())}
    sys.stderr.flush()
    print(prefix + json.dumps(result), flush=True)


def _batch_worker() -> None:
    """Compile each path read from stdin, marking where its native log starts (written to the
    stderr file descriptor itself, so it lands in order with the native library's lines)."""
    for index, line in enumerate(sys.stdin.read().splitlines()):
        sys.stderr.flush()
        os.write(2, f"\n{_MARK}{index}\n".encode())
        _worker(line, _RESULT)


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[2] == "--run":
        _run_worker(sys.argv[1], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    elif sys.argv[1:] == ["--batch"]:
        _batch_worker()
    else:
        _worker(sys.argv[1])
