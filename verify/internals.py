"""The torch internals ``verify`` relies on, named in one place with the reason for each.

Everything else in ``acts`` and ``verify`` uses public torch APIs. These are used only
where a check must observe torch from the inside, and ``tests/test_internals.py`` fails
loudly, naming the import, on a torch where one of them moved.

* ``TorchDispatchMode`` (``torch.utils._python_dispatch``): the ``memory`` check accounts
  for every tensor storage an op allocates while it runs, and ``stability`` and
  ``propagation`` name the first op that turns finite inputs into inf or NaN. A dispatch
  mode is the only way to see each op's outputs as they are made; torch has no public
  equivalent. ``opcheck`` finds, the same way, every ``torch.library`` custom operator a
  subject dispatches to, with the arguments of each call.
* ``tree_leaves`` (``torch.utils._pytree``): flattens an op's arguments and outputs inside
  that mode (nested tuples and lists of tensors), the way torch's own modes do.
* ``is_graph_break`` (``torch._dynamo.exc.Unsupported``): the ``compile`` check tells a
  graph break (the subject's code cannot be traced) from a backend failure; Dynamo raises
  no public exception type for it. Imported when asked, after a compilation has loaded
  Dynamo: importing it up front would cost every run seconds.
"""

from __future__ import annotations

from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def is_graph_break(exc: BaseException) -> bool:
    from torch._dynamo.exc import Unsupported

    return isinstance(exc, Unsupported)


__all__ = ["TorchDispatchMode", "is_graph_break", "tree_leaves"]
