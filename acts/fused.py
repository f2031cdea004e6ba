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
- compiled per dtype, device, constant parameters and thread count, on a flattened
  view, with dynamic sizes, so one compilation serves every shape; the compiled graph is
  then called directly, without Dynamo's per-call frame hook and guard evaluation (the
  kernel's own key is its guard), which keeps a call's overhead near 5 µs;
- by default compiled in a background thread on the first large call: that call and the
  ones after it run eagerly until the compiled kernel is ready, so a user never waits
  for the compiler (``ACTS_FUSED=sync`` compiles on the calling thread instead,
  ``ACTS_FUSED=off`` never compiles);
- a compilation that fails (no C++ compiler, say) is reported once as a warning and the
  kernel stays eager for that key: the results are the same, only slower;
- a :class:`ChannelKernel` takes a per-channel parameter too (PReLU's weight) and runs
  on (N, C, L) views, so the parameter's gradient is reduced in the same kernel.

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
import inspect
import os
import queue
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor
from torch.utils._python_dispatch import _get_current_dispatch_mode

POLICIES = ("background", "sync", "off")
# Below this many elements the eager chain is cheap and a compiled call's guard
# evaluation (tens of microseconds) is not worth it.
DEFAULT_MIN_NUMEL = 1 << 16
# Compiled kernels are specialised to sizes of 2 or more (Dynamo specialises 0 and 1).
MIN_NUMEL_FLOOR = 2
# Kernels are compiled on stand-ins of this many elements: inductor decides from the
# size it sees whether a loop is worth running on several threads.
EXAMPLE_NUMEL = 1 << 20
# A direct call is checked against Dynamo's on random arguments of this many elements.
PROBE_NUMEL = 4099
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
    return Settings(policy, max(MIN_NUMEL_FLOOR, min_numel))


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
        SETTINGS.min_numel = max(MIN_NUMEL_FLOOR, min_numel)
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


class _Direct:
    """Inductor's compiled graph for one key, called without Dynamo's frame hook and
    guards: about 5 µs a call instead of 20-25.

    The guards are the Kernel's own: every call with this key has the dtype, device,
    argument count, constants, thread count, inference and deterministic modes it was
    compiled for (and it was checked against Dynamo's call on random arguments),
    runs under no_grad on detached, flattened, contiguous tensors of at least 2
    elements (Dynamo specialises sizes 0 and 1) and outside any mode or transform.
    ``slots`` says what each graph input is: a flattened argument (its index), the
    number of elements (None), or a Python float the graph lifted to a 0-d tensor (a
    keyword constant, part of the key, or a module-level float, taken as constant)."""

    __slots__ = ("fn", "slots")

    def __init__(self, fn: Callable[..., Any], slots: list[int | Tensor | None]) -> None:
        self.fn = fn
        self.slots = slots

    def __call__(self, flat: tuple[Tensor, ...]) -> Tensor:
        n = flat[0].numel()
        args = [n if s is None else flat[s] if type(s) is int else s for s in self.slots]
        return self.fn(*args)[0]


class _Capture:
    """The backend torch.compile is given: inductor's, remembering what it compiled
    (the graph's inputs and the compiled callable) so a Kernel can call it directly."""

    def __init__(self) -> None:
        self.graphs: list[tuple[Any, list[Any], Callable[..., Any]]] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        from torch._inductor.compile_fx import compile_fx

        compiled: Any = compile_fx(gm, example_inputs)
        self.graphs.append((gm, list(example_inputs), compiled))
        return compiled


class Kernel:
    """A pure function of same-shaped tensors (and float constants passed by keyword)
    that is run compiled where that pays and eagerly elsewhere. Calling it is always
    correct: the compiled and eager forms compute the same formula."""

    flat = True  # runs on flattened views, so its graph can be called directly

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.fn = fn
        self.name = name
        self._state: dict[tuple[Any, ...], str] = {}
        # Per key, the compiled form taking the flattened arguments.
        self._runners: dict[tuple[Any, ...], Callable[[tuple[Tensor, ...]], Tensor]] = {}
        self.direct: dict[tuple[Any, ...], bool | None] = {}
        self.compile_s: dict[tuple[Any, ...], float] = {}
        self.errors: dict[tuple[Any, ...], str] = {}
        self.compiled_calls = 0
        self._lock = threading.Lock()
        KERNELS.append(self)

    def __repr__(self) -> str:
        return f"Kernel({self.name})"

    def __call__(self, *args: Tensor, **consts: float) -> Any:
        run = self.runner(args, consts)
        if run is None:
            return self.fn(*args, **consts)
        return self.run(run, args)

    def run(self, run: Callable[[tuple[Tensor, ...]], Tensor], args: tuple[Tensor, ...]) -> Tensor:
        """Call a runner from :meth:`runner` on the arguments it was looked up for."""
        self.compiled_calls += 1
        with torch.no_grad():
            out = run(self._views(args))
        shape = args[0].shape
        return out if out.shape == shape else out.view(shape)

    def _views(self, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return tuple(a.detach().view(-1) for a in args)

    def prepare(self, *args: Tensor, **consts: float) -> bool:
        """Whether a call with these arguments would run compiled now. An eligible call
        whose kernel is not compiled yet schedules the compilation (in the background,
        or here under the ``sync`` policy)."""
        return self.runner(args, consts) is not None

    def runner(self, args: tuple[Tensor, ...], consts: dict[str, float]) -> Callable[[tuple[Tensor, ...]], Tensor] | None:
        """The compiled form for these arguments when it can take them now, else None
        (scheduling its compilation when the call is eligible)."""
        if not self._eligible(args):
            return None
        key = self._key(args, consts)
        run = self._runners.get(key)
        if run is None and key not in self._state:
            self._schedule(key, args, consts)
            run = self._runners.get(key)
        return run

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

    def _key(self, args: tuple[Tensor, ...], consts: dict[str, float]) -> tuple[Any, ...]:
        # Everything a compiled form is specialised to that can differ between two
        # eligible calls.
        first = args[0]
        return (first.dtype, first.device, len(args), tuple(sorted(consts.items())), torch.get_num_threads(),
                torch.is_inference_mode_enabled(), torch.are_deterministic_algorithms_enabled())

    def _examples(self, args: tuple[Tensor, ...], key: tuple[Any, ...]) -> tuple[Tensor, ...]:
        return tuple(torch.zeros(EXAMPLE_NUMEL, dtype=a.dtype, device=a.device) for a in args)

    def _schedule(self, key: tuple[Any, ...], args: tuple[Tensor, ...], consts: dict[str, float]) -> None:
        with self._lock:
            if key in self._state:
                return
            self._state[key] = _PENDING
        # Compile on stand-ins, never on the caller's (large, possibly mutated) tensors.
        examples = self._examples(args, key)

        def job() -> None:
            # The compiler thread reproduces the caller's thread-local state.
            with torch.inference_mode(key[5]):
                self._compile(key, examples, consts)

        # Under deterministic algorithms a result must not change in its last bits when
        # a background compilation lands: compile before the first fused call instead.
        if SETTINGS.policy == "sync" or torch.are_deterministic_algorithms_enabled():
            job()
        else:
            _submit(job)

    def _compile(self, key: tuple[Any, ...], examples: tuple[Tensor, ...], consts: dict[str, float]) -> None:
        started = time.perf_counter()
        capture = _Capture()
        try:
            # A code object of its own per key: Dynamo compiles it afresh (so the graph
            # is captured) and keeps no shared cache to exhaust.
            compiled = torch.compile(_own_code(self.fn, f"{self.name}_{len(self._state)}"), backend=capture,
                                     dynamic=True, fullgraph=True)
            with torch.no_grad():
                compiled(*examples, **consts)
                probe: tuple[Tensor, ...] = ()
                expected = None
                if self.flat:
                    # Random values, distinct per argument, to tell a direct call's wiring
                    # apart; a size that runs the vectorised loop and its tail.
                    g = torch.Generator().manual_seed(0)
                    probe = tuple((torch.randn(PROBE_NUMEL, generator=g) * 4).to(e.dtype).to(e.device)
                                  for e in examples)
                    expected = compiled(*probe, **consts)
        except Exception as exc:  # any compiler failure leaves the eager form in charge
            message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            self.errors[key] = message
            self._state[key] = "failed"
            warnings.warn(f"acts: fused kernel {self.name} could not be compiled ({message}); running eagerly",
                          RuntimeWarning, stacklevel=2)
            return
        direct = _direct(capture, examples, probe, expected) if self.flat else None
        capture.graphs.clear()  # the graph module and the stand-ins: megabytes per kernel
        self.direct[key] = (direct is not None) if self.flat else None  # None: never tried
        self._runners[key] = direct or (lambda flat: compiled(*flat, **consts))
        self.compile_s[key] = time.perf_counter() - started
        self._state[key] = _READY


def _direct(capture: _Capture, examples: tuple[Tensor, ...], probe: tuple[Tensor, ...], expected: Any) -> _Direct | None:
    """The captured graph as a :class:`_Direct` call, when each of its inputs can be
    told apart (an argument, the size, a constant) and calling it on ``probe`` gives
    exactly what the Dynamo-compiled call gave (``expected``); else None (Dynamo's path
    stays). ``examples`` are the stand-ins the graph was compiled on."""
    if len(capture.graphs) != 1 or not isinstance(expected, Tensor):
        return None
    gm, inputs, fn = capture.graphs[0]
    if len([n for n in gm.graph.nodes if n.op == "placeholder"]) != len(inputs):
        return None
    slots: list[int | Tensor | None] = []
    for value in inputs:
        if isinstance(value, torch.SymInt):
            slots.append(None)  # every size is the number of elements: all are flat and alike
        elif isinstance(value, Tensor) and any(value is e for e in examples):
            slots.append(next(i for i, e in enumerate(examples) if value is e))
        elif isinstance(value, Tensor) and value.dim() == 0 and value.dtype == torch.float64 \
                and value.device.type == "cpu" and not value.requires_grad:
            # A Python float that Dynamo lifted to a tensor input: a keyword constant (part
            # of the key) or a module-level one (math.pi, a formula's coefficient). A
            # kernel is a pure function of its arguments, so it is read once, here.
            slots.append(value.clone())
        else:
            return None
    direct = _Direct(fn, slots)
    try:
        with torch.no_grad():
            got = direct(probe)
    except Exception:
        return None
    if not isinstance(got, Tensor) or got.shape != expected.shape or got.dtype != expected.dtype:
        return None
    same = (got == expected) | (got.isnan() & expected.isnan())
    return direct if bool(same.all()) else None


class ChannelKernel(Kernel):
    """A :class:`Kernel` of input-shaped tensors followed by one per-channel parameter:
    C values for dimension 1 of the inputs (``nn.PReLU``'s layout, dimension 0 of a 1-d
    input of C features), or one value for every element.

    It runs on (N, C, L) views of the inputs and the parameter as (C,), so a reduction
    over the batch and spatial dimensions (the parameter's gradient) compiles into the
    same kernel; the function returns an input-shaped tensor, or a pair of an
    input-shaped tensor and a parameter-shaped one. Sizes are dynamic except those equal
    to 1 (Dynamo specialises them), which are part of the key; a call goes through
    Dynamo, whose guards cover the three sizes."""

    flat = False

    @staticmethod
    def _layout(args: tuple[Tensor, ...]) -> tuple[int, int, int] | None:
        x, w = args[0], args[-1]
        c = w.numel()
        if c == 1:
            return 1, 1, x.numel()
        if x.dim() >= 2 and x.shape[1] == c and x.shape[0] > 0:
            return x.shape[0], c, x.numel() // (x.shape[0] * c)
        if x.dim() == 1 and x.shape[0] == c:
            return 1, c, 1
        return None

    def _eligible(self, args: tuple[Tensor, ...]) -> bool:
        if len(args) < 2 or not super()._eligible(args[:-1]):
            return False
        w, x = args[-1], args[0]
        if not _plain(w) or w.dtype != x.dtype or w.device != x.device or w.dim() > 1 or not w.is_contiguous():
            return False
        if torch.is_grad_enabled() and w.requires_grad:
            return False
        return self._layout(args) is not None

    def _key(self, args: tuple[Tensor, ...], consts: dict[str, float]) -> tuple[Any, ...]:
        layout = self._layout(args)
        assert layout is not None
        return (*super()._key(args, consts), tuple(size == 1 for size in layout))

    def _examples(self, args: tuple[Tensor, ...], key: tuple[Any, ...]) -> tuple[Tensor, ...]:
        # Distinct sizes, so Dynamo assumes no two are equal; 1 where the call has 1.
        n, c = (1 if one else size for one, size in zip(key[-1][:2], (8, 16), strict=True))
        shape = (n, c, 1 if key[-1][2] else EXAMPLE_NUMEL // (n * c))
        x = args[0]
        inputs = [torch.zeros(shape, dtype=x.dtype, device=x.device) for _ in args[:-1]]
        return (*inputs, torch.full((c,), 0.25, dtype=x.dtype, device=x.device))

    def _views(self, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        layout = self._layout(args)
        assert layout is not None
        return (*(a.detach().view(layout) for a in args[:-1]), args[-1].detach().view(-1))

    def run(self, run: Callable[[tuple[Tensor, ...]], Any], args: tuple[Tensor, ...]) -> Any:
        self.compiled_calls += 1
        with torch.no_grad():
            out = run(self._views(args))
        if isinstance(out, Tensor):
            return out.view(args[0].shape)
        grad_x, grad_w = out
        return grad_x.view(args[0].shape), grad_w.view(args[-1].shape)


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
                         "compile_s": k.compile_s.get(key), "direct": k.direct.get(key), "error": k.errors.get(key)})
    return rows


# -- fused Functions ---------------------------------------------------------------------


def vjp_kernel(formula: Callable[..., Tensor], argnums: int = 1) -> Callable[..., Any]:
    """``(grad, x, **consts) -> grad * f'(x)``, the vector-Jacobian product of a formula
    as autograd defines it (so the fused backward and the eager one agree). With
    ``argnums=2``, ``(grad, x, w) -> (grad_x, grad_w)`` for a formula ``f(x, w)``."""

    if argnums == 2:
        def backward2(grad: Tensor, x: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
            pull = torch.func.vjp(formula, x, w)[1]
            grad_x, grad_w = pull(grad)
            return grad_x, grad_w

        return backward2

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

    # An old-style Function (``forward(ctx, ...)``): it is applied only outside
    # torch.func transforms, and it spares every call the signature binding that
    # ``setup_context`` Functions pay.
    def _forward(ctx: Any, x: Tensor, run: Callable[[tuple[Tensor, ...]], Tensor], consts: dict[str, float]) -> Tensor:
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        ctx.consts = consts
        return forward.run(run, (x,))

    def _backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return backward(grad, x, **ctx.consts), None, None

    def jvp(ctx: Any, x_t: Tensor, *_: None) -> Tensor:
        # Elementwise, so the Jacobian is diagonal and the JVP is the VJP of the tangent.
        (x,) = ctx.saved_tensors
        return backward(x_t, x, **ctx.consts)

    function: Any = type(
        f"{name.title().replace('_', '')}FusedFunction",
        (torch.autograd.Function,),
        {
            "forward": staticmethod(_forward),
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
            run = forward.runner((x,), consts)
            ready = backward.runner((x, x), consts) is not None
        if run is None or not ready:
            return formula(x, **params)
        return function.apply(x, run, consts)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = formula.__doc__
    call.__wrapped__ = formula  # type: ignore[attr-defined]
    return call


def fused_channel_formula(name: str, formula: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Any], Tensor]:
    """``formula(x, weight)`` for a per-channel parameter (``nn.PReLU``'s layout, see
    :class:`ChannelKernel`), with the same values and gradients, the weight's included:
    on large inputs one fused forward and one fused backward, which computes the input's
    gradient and sums the weight's over the batch and spatial dimensions in one pass.
    ``formula`` must broadcast the weight itself (it sees (N, C, L) and (C,) when fused,
    the caller's shapes otherwise). Double backward and forward-mode AD run eagerly."""
    forward = ChannelKernel(formula, f"{name}.forward")
    backward = ChannelKernel(vjp_kernel(formula, argnums=2), f"{name}.backward")

    def _forward(ctx: Any, x: Tensor, weight: Tensor, run: Callable[..., Any]) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.save_for_forward(x, weight)
        return cast(Tensor, forward.run(run, (x, weight)))

    def _backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        x, weight = ctx.saved_tensors
        grad_x, grad_w = backward(grad, x, weight)
        return grad_x, grad_w, None

    def jvp(ctx: Any, x_t: Tensor, weight_t: Tensor | None, _: None) -> Tensor:
        x, weight = ctx.saved_tensors
        tangent_w = torch.zeros_like(weight) if weight_t is None else weight_t
        return cast(Tensor, torch.func.jvp(formula, (x, weight), (x_t, tangent_w))[1])

    function: Any = type(
        f"{name.title().replace('_', '')}FusedFunction",
        (torch.autograd.Function,),
        {"forward": staticmethod(_forward), "backward": staticmethod(_backward), "jvp": staticmethod(jvp),
         "__doc__": fused_channel_formula.__doc__},
    )

    def call(x: Tensor, weight: Any) -> Tensor:
        if not wanted(x) or not isinstance(weight, Tensor):
            return formula(x, weight)
        with torch.no_grad():
            run = forward.runner((x, weight), {})
            ready = backward.runner((x, x, weight), {}) is not None
        if run is None or not ready:
            return formula(x, weight)
        return cast(Tensor, function.apply(x, weight, run))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = formula.__doc__
    call.__wrapped__ = formula  # type: ignore[attr-defined]
    return call


def bound_signature(function: type[torch.autograd.Function]) -> type[torch.autograd.Function]:
    """Give a ``setup_context``-style Function's ``forward`` its signature once:
    ``Function.apply`` binds the call's arguments to it on every call, and
    ``inspect.signature`` otherwise rebuilds it each time (about 15 µs)."""
    forward = function.forward
    forward.__signature__ = inspect.signature(forward)  # type: ignore[attr-defined]
    return function


__all__ = [
    "DEFAULT_MIN_NUMEL",
    "KERNELS",
    "POLICIES",
    "SETTINGS",
    "ChannelKernel",
    "Kernel",
    "bound_signature",
    "compiled_calls",
    "configured",
    "drain",
    "fused_channel_formula",
    "fused_formula",
    "pending",
    "report",
    "vjp_kernel",
    "wanted",
]
