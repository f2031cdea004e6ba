"""Fused kernels: an activation's forward and backward each compiled by ``torch.compile``
into one pass over memory, without making the first call slow.

An elementwise activation is memory-bound, and a chain of eager torch ops makes one
pass over memory per op: 2-4x the built-in's time on a CPU. A :class:`Kernel` wraps a
pure tensor function (a formula, or the body of a hand-written backward) and runs it
compiled where that pays, eagerly everywhere else:

- compiled only for large, dense, ordinary tensors (at least ``min_numel`` elements),
  outside ``torch.compile`` (which fuses the eager form itself) and outside ``torch.func``
  transforms, and only when no input needs a gradient through the kernel itself (a
  double backward runs the eager, differentiable form);
- compiled per dtype, device and constant parameters, on a flattened view, with dynamic
  sizes, so one compilation serves every shape;
- by default compiled in a background thread on the first large call: that call and the
  ones after it run eagerly until the compiled kernel is ready, so a user never waits
  for the compiler (``ACTS_FUSED=sync`` compiles on the calling thread instead,
  ``ACTS_FUSED=off`` never compiles);
- a compilation that fails (no C++ compiler, say) is reported once as a warning and the
  kernel stays eager for that key: the results are the same, only slower.

The compiled and eager forms agree to a few ulps of the terms a formula adds up, not
bit for bit (tests/acts/test_fused.py holds every fused activation to that in float32
and float64). So a result may change in its last bits when a background compilation
lands; under ``torch.use_deterministic_algorithms(True)`` kernels are compiled before
their first fused call instead, and results never switch. The gate's checks judge the
eager form (the runner turns fusion off); the ``throughput`` check times the fused one.

Inductor's vectorised CPU code computes expm1 as exp(x) - 1, which loses every digit
near 0; formulas use :func:`acts._util.expm1`, which stays accurate under compilation.

The settings come from the environment (``ACTS_FUSED``, ``ACTS_FUSED_MIN_NUMEL``) and can
be changed for a block with :func:`configured`; :func:`report` lists what was compiled,
in how long, and what failed; :func:`pending` and :func:`drain` tell whether the
compiler thread is still busy.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import _get_current_dispatch_mode

POLICIES = ("background", "sync", "off")
# Below this many elements the eager chain is cheap and a compiled call's guard
# evaluation (tens of microseconds) is not worth it.
DEFAULT_MIN_NUMEL = 1 << 16
# Kernels are compiled on stand-ins of this many elements: inductor decides from the
# size it sees whether a loop is worth running on several threads.
EXAMPLE_NUMEL = 1 << 20
_FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


@dataclass
class Settings:
    policy: str
    min_numel: int


def _from_env() -> Settings:
    policy = os.environ.get("ACTS_FUSED", "background").strip().lower() or "background"
    if policy not in POLICIES:
        warnings.warn(f"ACTS_FUSED={policy!r} is not one of {', '.join(POLICIES)}; using 'background'", stacklevel=2)
        policy = "background"
    raw = os.environ.get("ACTS_FUSED_MIN_NUMEL", "")
    try:
        min_numel = int(raw) if raw else DEFAULT_MIN_NUMEL
    except ValueError:
        warnings.warn(f"ACTS_FUSED_MIN_NUMEL={raw!r} is not an integer; using {DEFAULT_MIN_NUMEL}", stacklevel=2)
        min_numel = DEFAULT_MIN_NUMEL
    return Settings(policy, max(1, min_numel))


SETTINGS = _from_env()


@contextmanager
def configured(policy: str | None = None, min_numel: int | None = None) -> Iterator[Settings]:
    """Change the fused-kernel settings for a block (process-wide)."""
    if policy is not None and policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    saved = Settings(SETTINGS.policy, SETTINGS.min_numel)
    if policy is not None:
        SETTINGS.policy = policy
    if min_numel is not None:
        SETTINGS.min_numel = max(1, min_numel)
    try:
        yield SETTINGS
    finally:
        SETTINGS.policy, SETTINGS.min_numel = saved.policy, saved.min_numel


def _plain(t: Any) -> bool:
    return type(t) is Tensor or type(t) is torch.nn.Parameter


def wanted(x: Tensor) -> bool:
    """Whether a call on ``x`` should take the fused path at all (its size, kind and
    context), before any kernel is looked up."""
    return (
        SETTINGS.policy != "off"
        and not torch.compiler.is_compiling()  # first: Dynamo need trace nothing else
        and _plain(x)
        and x.numel() >= SETTINGS.min_numel
        and x.layout == torch.strided
        and x.dtype in _FLOAT_DTYPES
        and x.device.type in ("cpu", "cuda")
        and torch._C._functorch.peek_interpreter_stack() is None
        # A dispatch or function mode (a memory tracker, a FLOP counter, a fake-tensor
        # mode) must see the eager ops, and compiled code is specialised to no autocast.
        and _get_current_dispatch_mode() is None
        and torch._C._len_torch_function_stack() == 0
        and not torch.is_autocast_enabled(x.device.type)
    )


# -- the background compiler ------------------------------------------------------------

_jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()
_stopping = False


def _work() -> None:
    while True:
        job = _jobs.get()
        if job is None or _stopping:
            return
        job()


def _submit(job: Callable[[], None]) -> None:
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_work, name="acts-fused-compiler", daemon=True)
            _worker.start()
    _jobs.put(job)


# How long an exiting process waits for a compilation in flight (queued ones are dropped).
EXIT_WAIT_S = 30.0


@atexit.register
def _stop() -> None:
    """At exit, drop the compilations still queued and let the one in flight finish:
    a compiler thread torn down mid-compilation can abort the process."""
    global _stopping
    _stopping = True
    _jobs.put(None)
    if _worker is not None and _worker.is_alive():
        _worker.join(EXIT_WAIT_S)


def _after_fork_in_child() -> None:
    """A forked child (a DataLoader worker, say) runs eagerly: it inherits no compiler
    thread, may inherit the queue's lock held, and compiling (or running OpenMP code)
    after a fork can hang. Its settings say ``off``; a child that wants fused kernels
    can turn them back on with :func:`configured`, at its own risk."""
    global _jobs, _worker, _worker_lock
    _jobs = queue.Queue()
    _worker = None
    _worker_lock = threading.Lock()
    SETTINGS.policy = "off"
    for kernel in KERNELS:
        kernel._lock = threading.Lock()
        for key, state in list(kernel._state.items()):
            if state == _PENDING:
                del kernel._state[key]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def pending() -> int:
    """How many compilations are queued or in flight."""
    return sum(state == _PENDING for k in KERNELS for state in k._state.values())


def drain(timeout: float | None = None) -> bool:
    """Wait until every queued compilation has finished; False on timeout."""
    done = threading.Event()
    _submit(done.set)
    return done.wait(timeout)


# -- kernels ------------------------------------------------------------------------------

_READY, _PENDING = "ready", "pending"
KERNELS: list[Kernel] = []


def _own_code(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A copy of ``fn`` with a code object of its own. Dynamo keeps its compiled entries
    on the code object, with a small limit per object: kernels made from one shared
    helper (a closure) would otherwise share, and exhaust, one cache."""
    if not isinstance(fn, types.FunctionType):
        def call(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)
        fn = call
    code = fn.__code__.replace(co_name=f"{fn.__code__.co_name}__{name.replace('.', '_')}")
    clone = types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)
    clone.__kwdefaults__ = fn.__kwdefaults__
    return clone


class Kernel:
    """A pure function of same-shaped tensors (and float constants passed by keyword)
    that is run compiled where that pays and eagerly elsewhere. Calling it is always
    correct: the compiled and eager forms compute the same formula."""

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.fn = fn
        self.name = name
        self._compiled: Callable[..., Any] | None = None
        self._state: dict[tuple[Any, ...], str] = {}
        self.compile_s: dict[tuple[Any, ...], float] = {}
        self.errors: dict[tuple[Any, ...], str] = {}
        self.compiled_calls = 0
        self._lock = threading.Lock()
        KERNELS.append(self)

    def __repr__(self) -> str:
        return f"Kernel({self.name})"

    def __call__(self, *args: Tensor, **consts: float) -> Any:
        flat = self._ready(args, consts)
        if flat is None:
            return self.fn(*args, **consts)
        assert self._compiled is not None
        self.compiled_calls += 1
        with torch.no_grad():
            out = self._compiled(*flat, **consts)
        shape = args[0].shape
        return out if out.shape == shape else out.view(shape)

    def prepare(self, *args: Tensor, **consts: float) -> bool:
        """Whether a call with these arguments would run compiled now. An eligible call
        whose kernel is not compiled yet schedules the compilation (in the background,
        or here under the ``sync`` policy)."""
        return self._ready(args, consts) is not None

    def _ready(self, args: tuple[Tensor, ...], consts: dict[str, float]) -> tuple[Tensor, ...] | None:
        """The flattened arguments when the compiled kernel can take them now, else None
        (scheduling its compilation when the call is eligible)."""
        if not self._eligible(args):
            return None
        flat = tuple(a.detach().reshape(-1) for a in args)
        key = self._key(flat, consts)
        state = self._state.get(key)
        if state is None:
            state = self._schedule(key, flat, consts)
        return flat if state == _READY else None

    def _eligible(self, args: tuple[Tensor, ...]) -> bool:
        if not args or not wanted(args[0]):
            return False
        first = args[0]
        grad = torch.is_grad_enabled()
        for a in args:
            if not _plain(a) or a.dtype != first.dtype or a.device != first.device:
                return False
            if grad and a.requires_grad:
                return False  # a differentiable call (a double backward): eager
            if a.shape != first.shape or not a.is_contiguous():
                return False
        return True

    def _key(self, flat: tuple[Tensor, ...], consts: dict[str, float]) -> tuple[Any, ...]:
        # Everything Dynamo guards on that can differ between two eligible calls.
        return (flat[0].dtype, flat[0].device, len(flat), tuple(sorted(consts.items())),
                torch.get_num_threads(), torch.is_inference_mode_enabled())

    def _schedule(self, key: tuple[Any, ...], flat: tuple[Tensor, ...], consts: dict[str, float]) -> str:
        with self._lock:
            if key in self._state:
                return self._state[key]
            self._state[key] = _PENDING
        # Compile on stand-ins, never on the caller's (large, possibly mutated) tensors.
        examples = tuple(torch.zeros(EXAMPLE_NUMEL, dtype=a.dtype, device=a.device) for a in flat)

        def job() -> None:
            # The compiler thread reproduces the caller's thread-local state it guards on.
            with torch.inference_mode(key[5]):
                self._compile(key, examples, consts)

        # Under deterministic algorithms a result must not change in its last bits when
        # a background compilation lands: compile before the first fused call instead.
        if SETTINGS.policy == "sync" or torch.are_deterministic_algorithms_enabled():
            job()
        else:
            _submit(job)
        return self._state[key]

    def _compile(self, key: tuple[Any, ...], examples: tuple[Tensor, ...], consts: dict[str, float]) -> None:
        started = time.perf_counter()
        try:
            if self._compiled is None:
                self._compiled = torch.compile(_own_code(self.fn, self.name), dynamic=True, fullgraph=True)
            with torch.no_grad():
                self._compiled(*examples, **consts)
        except Exception as exc:  # any compiler failure leaves the eager form in charge
            message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            self.errors[key] = message
            self._state[key] = "failed"
            warnings.warn(f"acts: fused kernel {self.name} could not be compiled ({message}); running eagerly",
                          RuntimeWarning, stacklevel=2)
            return
        self.compile_s[key] = time.perf_counter() - started
        self._state[key] = _READY


def compiled_calls() -> int:
    """How many calls, over every kernel, have run compiled so far."""
    return sum(k.compiled_calls for k in KERNELS)


def report() -> list[dict[str, Any]]:
    """What each kernel compiled, in how long, and what failed."""
    rows = []
    for k in KERNELS:
        for key, state in k._state.items():
            rows.append({"kernel": k.name, "dtype": str(key[0]).removeprefix("torch."), "device": str(key[1]),
                         "consts": dict(key[3]), "threads": key[4], "state": state,
                         "compile_s": k.compile_s.get(key), "error": k.errors.get(key)})
    return rows


# -- fused Functions ---------------------------------------------------------------------


def vjp_kernel(formula: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``(grad, x, **consts) -> grad * f'(x)``, the vector-Jacobian product of a formula
    as autograd defines it (so the fused backward and the eager one agree)."""

    def backward(grad: Tensor, x: Tensor, **consts: float) -> Tensor:
        pull = torch.func.vjp(lambda t: formula(t, **consts), x)[1]
        (grad_x,) = pull(grad)
        return grad_x

    return backward


def fused_formula(name: str, formula: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``formula(x, **fixed_params)`` with the same values and gradients, run as one
    fused forward and one fused backward on large inputs. It saves only its input; a
    double backward and forward-mode AD run the formula eagerly."""
    forward = Kernel(formula, f"{name}.forward")
    backward = Kernel(vjp_kernel(formula), f"{name}.backward")

    def _forward(x: Tensor, consts: tuple[tuple[str, float], ...]) -> Tensor:
        return forward(x, **dict(consts))

    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, consts = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        ctx.consts = dict(consts)

    def _backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return backward(grad, x, **ctx.consts), None

    def jvp(ctx: Any, x_t: Tensor, _: None) -> Tensor:
        # Elementwise, so the Jacobian is diagonal and the JVP is the VJP of the tangent.
        (x,) = ctx.saved_tensors
        return backward(x_t, x, **ctx.consts)

    function: Any = type(
        f"{name.title().replace('_', '')}FusedFunction",
        (torch.autograd.Function,),
        {
            "forward": staticmethod(_forward),
            "setup_context": staticmethod(setup_context),
            "backward": staticmethod(_backward),
            "jvp": staticmethod(jvp),
            "__doc__": fused_formula.__doc__,
        },
    )

    def call(x: Tensor, **params: Any) -> Tensor:
        # Until both kernels are compiled for this dtype (and whenever the fused path does
        # not apply), the formula runs eagerly, exactly as it would without fusion.
        if not wanted(x) or any(isinstance(v, Tensor) for v in params.values()):
            return formula(x, **params)
        consts = {k: float(v) for k, v in params.items()}
        with torch.no_grad():  # as the Function's forward and backward will call them
            ready = forward.prepare(x, **consts)
            ready = backward.prepare(x, x, **consts) and ready
        if not ready:
            return formula(x, **params)
        return function.apply(x, tuple(sorted(consts.items())))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = formula.__doc__
    call.__wrapped__ = formula  # type: ignore[attr-defined]
    return call


__all__ = [
    "DEFAULT_MIN_NUMEL",
    "KERNELS",
    "POLICIES",
    "SETTINGS",
    "Kernel",
    "compiled_calls",
    "configured",
    "drain",
    "fused_formula",
    "pending",
    "report",
    "vjp_kernel",
    "wanted",
]
