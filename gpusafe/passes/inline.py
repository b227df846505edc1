"""Put a Python function into a captured graph as the aten ops it traces to.

``inline_call(gm, node, fn, args)`` traces ``fn(*args)`` with ``make_fx`` on fake tensors shaped
like the graph values in ``args`` and copies the traced ops in before ``node``. The result is plain
aten nodes with shape metadata, so later passes see (and can rewrite) what a rewrite produced, and
the op histogram shows exactly what replaced what.
"""

from __future__ import annotations

from operator import getitem

import torch
from torch.fx import GraphModule, Node
from torch.fx.experimental.proxy_tensor import make_fx
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten


def example_tensor(node: Node) -> torch.Tensor:
    """A real tensor shaped like the value torch.export recorded for ``node``."""
    value = node.meta.get("val")
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"node {node.name} has no recorded tensor value to trace with")
    return torch.zeros(value.shape, dtype=value.dtype)


def _fresh_attr(gm: GraphModule, stem: str) -> str:
    index = 0
    while hasattr(gm, f"{stem}_{index}"):
        index += 1
    return f"{stem}_{index}"


def inline_call(gm: GraphModule, before: Node, fn, args: tuple, kwargs: dict | None = None):
    """Insert the ops of ``fn(*args, **kwargs)`` before ``before``; graph values in ``args`` are
    Nodes, anything else is a constant baked into the trace. Returns the output Node (or a pytree of
    Nodes when ``fn`` returns several tensors)."""
    flat, spec = tree_flatten((tuple(args), dict(kwargs or {})))
    positions = [i for i, a in enumerate(flat) if isinstance(a, Node)]

    def traced(*tensors):
        values = list(flat)
        for i, tensor in zip(positions, tensors, strict=True):
            values[i] = tensor
        call_args, call_kwargs = tree_unflatten(values, spec)
        return fn(*call_args, **call_kwargs)

    # pre_dispatch keeps reshape as reshape (a view only where strides allow), as torch.export does:
    # graph values may be non-contiguous where the example tensors are not.
    sub = make_fx(traced, tracing_mode="fake", pre_dispatch=True)(*[example_tensor(flat[i]) for i in positions])
    # Unused random draws are dead too (a lazy import traced along can leave some): keep mutations only.
    sub.graph.eliminate_dead_code(is_impure_node=lambda n: n.is_impure() and not _random(n))
    env: dict[Node, Node] = {}
    placeholders = iter(flat[i] for i in positions)
    graph = gm.graph
    with graph.inserting_before(before):
        for node in sub.graph.nodes:
            if node.op == "placeholder":
                env[node] = next(placeholders)
            elif node.op == "get_attr":
                name = _fresh_attr(gm, "_rewrite_constant")
                gm.register_buffer(name, getattr(sub, node.target))
                env[node] = graph.get_attr(name)
                env[node].meta.update(node.meta)
            elif node.op == "output":
                return tree_map(lambda a: env[a] if isinstance(a, Node) else a, node.args[0])
            else:
                env[node] = graph.node_copy(node, lambda a: env[a])
                _inherit_source(env[node], before)
    raise AssertionError("traced graph has no output")


SOURCE_META = ("nn_module_stack", "stack_trace")


def _inherit_source(node: Node, replaced: Node) -> None:
    """The replaced node's module stack and stack trace: litert-torch names each tensor after its
    node's module stack, so the ops a rewrite inserts keep pointing at the model's own module
    (``gpusafe lint`` reports it as a finding's ``source``)."""
    for key in SOURCE_META:
        if key in replaced.meta and key not in node.meta:
            node.meta[key] = replaced.meta[key]


def _random(node: Node) -> bool:
    return torch.Tag.nondeterministic_seeded in getattr(node.target, "tags", ())


def replace_node(gm: GraphModule, node: Node, result) -> None:
    """Route ``node``'s users to ``result`` (a Node, or a tuple of Nodes for a tuple-valued node
    read through getitem) and erase it."""
    if isinstance(result, Node):
        node.replace_all_uses_with(result)
    else:
        for user in list(node.users):
            if user.target is not getitem:
                raise ValueError(f"{node.name} returns several values but {user.name} reads it whole")
            user.replace_all_uses_with(result[user.args[1]])
            gm.graph.erase_node(user)
    gm.graph.erase_node(node)



