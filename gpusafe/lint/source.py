"""Where a converted op came from: the PyTorch module path litert-torch writes into tensor names.

litert-torch names each tensor after the module stack of the torch.fx node that produced it,
``pkg.Root/pkg.Class_attr/pkg.Sub_attr2;N``: one ``type_attribute`` element per module from the
root, then a counter. That is the module path (``attr.attr2``) and the module types; the source
line does not survive conversion. Tensors of ops outside any module (torch.export's wrapper) and
files from other converters give no path.
"""

from __future__ import annotations

import re

_ELEMENT = re.compile(r"^(?P<type>(?:[A-Za-z_][\w<>]*\.)*[A-Za-z_]\w*?)_(?P<attr>[^./;]+)$")


def module_path(tensor_name: str) -> str | None:
    """``model.backbone.stem1.convolution`` (with the innermost module's type in brackets) for a
    litert-torch tensor name, or None where the name carries no module path."""
    name = tensor_name.split(";", 1)[0]
    if "/" not in name or "<locals>" in name:
        return None
    attrs, inner = [], None
    for element in name.split("/")[1:]:  # the first element is the root module, which has no attribute
        match = _ELEMENT.match(element)
        if match is None:
            return None
        attrs.append(match["attr"])
        inner = match["type"].rsplit(".", 1)[-1]
    return f"{'.'.join(attrs)} ({inner})" if attrs else None
