"""`memory`: what an activation keeps for its backward, and what its in-place variant
really saves, measured with :mod:`verify.analysis.memory`, never taken from the spec.

Measured in the run's first dtype (float32 by default) on an activation input of about
:data:`~verify.tolerances.MEMORY_STEP_NUMEL` elements: a batch of :data:`STEP_WIDTH`
features when the subject takes one, otherwise its own layout with channels at
dimension 1 (:meth:`~verify.subject.Subject.shape`), as a per-channel module needs.

* Saved for backward: the input-sized tensors autograd keeps (counted by storage with
  saved-tensor hooks; parameters do not count; see :class:`verify.analysis.memory.Saved`), in
  bytes per input element and as a multiple of the input's size. More than the spec's
  ``saved_tensors`` declares fails; autograd through the spec's reference formula is
  measured alongside and reported.
* Peaks of the realistic step (:func:`verify.analysis.memory.measure_step`: the activation
  between two linear layers, forward and backward), in training and under
  ``torch.no_grad()``, out of place and in place. The training peak is the forward's,
  with autograd recording: everything kept for the backward plus the activation's
  transient, the part of a network's training memory an activation decides and the part
  that adds up layer after layer. The backward's peak is reported
  (``step_peak_bytes_*``) but not judged: at the activation it holds the incoming and
  the outgoing gradient at once, two input-sized tensors whichever variant ran, plus a
  hand-written backward's scratch, and on a single block that sets the whole step's
  peak for both variants alike.
* Verdicts for an in-place variant (a spec's ``inplace``, a module's ``inplace`` flag):
  returning a tensor that is not its input's storage fails ("allocates a new output");
  a spec that declares ``inplace_saves_training_memory`` fails unless the variant lowers
  the training peak by about one input-sized tensor
  (:data:`~verify.tolerances.MEMORY_INPLACE_MIN_SAVING`); one that cannot (its backward
  needs the input, or its forward allocates what it avoids) is reported as such, and
  passes when the spec says so or when there is no spec to claim it.

On CUDA the peaks come from the caching allocator (``method: cuda_allocator``) and the
accounting is run too: its saving must agree within
:data:`~verify.tolerances.MEMORY_CUDA_AGREEMENT`, or a finding says by how much not.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from verify import tolerances as tol
from verify.analysis.memory import (
    Saved,
    StepMemory,
    default_method,
    measure_step,
    saved_for_backward,
    storage_key,
)
from verify.checks._grad import formula_with_params
from verify.checks._layout import Fn, dtype_name, out_of_place
from verify.checks.base import Context, Outcome, check, failed, passed, skipped
from verify.checks.inplace import overwrote_saved
from verify.subject import Subject

# The activation's input in the step: STEP_WIDTH features per row when the subject
# takes any width, else STEP_BATCH samples of the subject's own channels.
STEP_WIDTH = 256
STEP_BATCH = 64


@check("memory")
def check_memory(subject: Subject, ctx: Context) -> Outcome:
    """Bytes saved for backward and the training and no_grad peaks, out of place and in place, measured."""
    if subject.not_positionwise is not None:
        return skipped(subject.not_positionwise)
    dtype, device = ctx.dtypes[0], ctx.device
    method = default_method(device)
    shape = step_shape(subject, dtype, device)
    spec = subject.spec
    declared = spec.saved_tensors if spec is not None else None

    saved, _ = _saved(_fresh(subject, dtype, device), shape, dtype, device)
    naive = _naive_saved(subject, shape, dtype, device)
    oop = {grad: measure_step(_fresh(subject, dtype, device), shape, grad=grad, dtype=dtype, device=device,
                              method=method) for grad in (True, False)}
    numel, in_bytes = oop[True].input_numel, oop[True].input_bytes

    def per_el(n: float | None) -> float | None:
        return None if n is None else n / numel

    details: dict[str, Any] = {
        "method": method,
        "device": str(device),
        "dtype": dtype_name(dtype),
        "input_shape": list(shape),
        "input_numel": numel,
        "input_bytes": in_bytes,
        "saved_bytes_per_element": saved.bytes_per_element,
        "saved_tensors": saved.count,
        "saved_input_multiple": saved.input_multiple,
        "saved": saved.to_json(),
        "declared_saved_tensors": declared,
        "naive_saved": None if naive is None else naive.to_json(),
        **_peaks("out_of_place", oop),
        "peak_bytes_in_place": None,
        "saving_bytes": None,
        "no_grad_saving_bytes": None,
    }
    problems: list[str] = []
    findings: list[str] = []

    if declared is not None and (saved.count > declared or saved.nbytes > declared * in_bytes):
        problems.append(f"saves {saved.count} input-sized tensor(s) for backward ({saved.describe()}: "
                        f"{saved.bytes_per_element:.3g} B/element) where its spec declares {declared}")
    if naive is not None and saved.nbytes > naive.nbytes:
        findings.append(f"saves more for backward than autograd through its reference formula "
                        f"({saved.bytes_per_element:.3g} vs {naive.bytes_per_element:.3g} B/element: "
                        f"{saved.describe()} against {naive.describe()})")
    hidden = _hidden_held(oop[True], saved)
    if hidden > tol.MEMORY_HIDDEN_HELD * in_bytes:
        findings.append(f"its step still holds {hidden / numel:.3g} B/element after the forward beyond its output "
                        "and what autograd's saved-tensor hooks saw (a tensor kept on ctx or in a closure?)")

    summary = (f"saves {saved.count} input-sized tensor(s) for backward ({saved.bytes_per_element:.3g} B/element"
               + ("" if naive is None else f"; autograd through the reference {naive.bytes_per_element:.3g}") + ")")
    if subject.has_inplace:
        try:
            verdict = _judge_in_place(subject, ctx, shape, method, oop, saved, details, findings)
        except RuntimeError as exc:
            why = overwrote_saved(exc)
            if why is None:
                raise
            verdict = ([f"the in-place variant's training step cannot run, so what it saves cannot be measured: "
                        f"{why}"], "")
        problems.extend(verdict[0])
        summary += verdict[1]
    else:
        why = "no in-place variant" if subject.inplace_declined is None else \
            f"in-place mode declined: {subject.inplace_declined}"
        summary += f"; training peak {oop[True].peak_bytes / numel:.3g} B/element ({why})"
        if subject.inplace_declined is not None:
            details["inplace_declined"] = subject.inplace_declined
    if method == "cuda_allocator":
        findings.extend(_cross_check(subject, shape, dtype, device, details))

    details["saving_bytes_per_element"] = per_el(details["saving_bytes"])
    details["no_grad_saving_bytes_per_element"] = per_el(details["no_grad_saving_bytes"])
    if problems:
        return failed("; ".join(problems), details=details, findings=findings)
    return passed(summary, details=details, findings=findings)


def step_shape(subject: Subject, dtype: torch.dtype, device: str) -> tuple[int, ...]:
    """The activation's input in the realistic step (see the module docstring)."""
    wide = (max(1, tol.MEMORY_STEP_NUMEL // STEP_WIDTH), STEP_WIDTH)
    try:
        probe = torch.zeros((2, STEP_WIDTH), dtype=dtype, device=device)
        with torch.no_grad():
            y = _fresh(subject, dtype, device)(probe)
        if isinstance(y, Tensor) and y.shape == probe.shape:
            return wide
    except Exception:  # a per-channel subject refuses a width that is not its channel count
        pass
    base = subject.base_shape
    if len(base) >= 3:
        per_length = STEP_BATCH * int(torch.Size(base[1:2] + base[3:]).numel())
        return subject.shape(STEP_BATCH, max(1, tol.MEMORY_STEP_NUMEL // per_length))
    if len(base) == 2:
        return subject.shape(max(1, tol.MEMORY_STEP_NUMEL // base[1]), 1)
    return base


def _fresh(subject: Subject, dtype: torch.dtype, device: str, inplace: bool = False) -> Fn:
    if inplace:
        return subject.instance(dtype, device, inplace=True)
    return out_of_place(subject.instance(dtype, device))[0]


def _probe(shape: tuple[int, ...], dtype: torch.dtype, device: str) -> Tensor:
    """A non-leaf input that requires grad (an in-place variant may overwrite it)."""
    gen = torch.Generator().manual_seed(0)
    leaf = torch.randn(shape, generator=gen).to(device=device, dtype=dtype).requires_grad_()
    return leaf.clone()


def _own_tensors(fn: Any) -> list[Tensor]:
    return [*fn.parameters(), *fn.buffers()] if isinstance(fn, nn.Module) else []


def _saved(fn: Fn, shape: tuple[int, ...], dtype: torch.dtype, device: str) -> tuple[Saved, bool]:
    """What ``fn`` saves for backward, and whether it returned its input's storage."""
    x = _probe(shape, dtype, device)
    key = storage_key(x)
    saved, y = saved_for_backward(fn, x, _own_tensors(fn))
    return saved, isinstance(y, Tensor) and storage_key(y) == key


def _naive_saved(subject: Subject, shape: tuple[int, ...], dtype: torch.dtype, device: str) -> Saved | None:
    """What autograd through the spec's reference formula saves, called with the
    subject's own parameter tensors (so a trainable parameter needs its gradient)."""
    if subject.spec is None:
        return None
    module = subject.instance(dtype, device)
    ref = formula_with_params(subject.spec.reference, module, detach=False)
    return saved_for_backward(ref, _probe(shape, dtype, device), _own_tensors(module))[0]


def _peaks(variant: str, steps: dict[bool, StepMemory]) -> dict[str, int | None]:
    """The details' peaks of one variant, in training (keyed True) and under no_grad."""
    return {f"peak_bytes_{variant}": steps[True].peak_bytes, f"held_bytes_{variant}": steps[True].held_bytes,
            f"step_peak_bytes_{variant}": steps[True].step_peak_bytes,
            f"no_grad_peak_bytes_{variant}": steps[False].peak_bytes}


def _hidden_held(step: StepMemory, saved: Saved) -> int:
    """Bytes the training step holds after its forward beyond the activation's output
    (which the head saves) and what the saved-tensor hooks accounted for."""
    seen = sum(s.nbytes for s in saved.storages if s.role not in ("output", "input = output"))
    return (step.held_bytes or 0) - step.input_bytes - seen


def _judge_in_place(subject: Subject, ctx: Context, shape: tuple[int, ...], method: str,
                    oop: dict[bool, StepMemory], saved: Saved, details: dict[str, Any],
                    findings: list[str]) -> tuple[list[str], str]:
    """The in-place variant's verdicts; adds its numbers to ``details``. Returns the
    problems and the summary's tail."""
    dtype, device = ctx.dtypes[0], ctx.device
    ip_saved, probe_in_place = _saved(_fresh(subject, dtype, device, True), shape, dtype, device)
    ip = {grad: measure_step(_fresh(subject, dtype, device, True), shape, grad=grad, dtype=dtype, device=device,
                             method=method) for grad in (True, False)}
    numel, in_bytes = oop[True].input_numel, oop[True].input_bytes
    saving = oop[True].peak_bytes - ip[True].peak_bytes
    no_grad_saving = oop[False].peak_bytes - ip[False].peak_bytes
    held_saving = (oop[True].held_bytes or 0) - (ip[True].held_bytes or 0)
    required = tol.MEMORY_INPLACE_MIN_SAVING * in_bytes - oop[True].head_bytes
    saves_training = saving >= required
    claim = subject.spec.inplace_saves_training_memory if subject.spec is not None else None
    keeps = [s.describe() for s in ip_saved.storages if s.input_sized and s.role not in ("input = output", "output")]
    details.update({
        **_peaks("in_place", ip),
        "saving_bytes": saving,
        "held_saving_bytes": held_saving,
        "no_grad_saving_bytes": no_grad_saving,
        "required_saving_bytes": required,
        "inplace_saved": ip_saved.to_json(),
        "inplace_keeps": keeps,
        "inplace_saves_training_memory": saves_training,
        "declared_inplace_saves_training_memory": claim,
    })

    def b(n: float) -> str:
        return f"{n / numel:.3g} B/element ({n / in_bytes:.2f} of an input)"

    problems = []
    if not (probe_in_place and ip[True].in_place and ip[False].in_place):
        problems.append("advertised as in place, it allocates a new output: the tensor it returns is not its "
                        f"input's storage (training peak {b(ip[True].peak_bytes)} against {b(oop[True].peak_bytes)} "
                        "out of place)")
    why = _why_not(keeps, saved, oop[True], ip[True], b)
    if not saves_training:
        if claim:
            problems.append(f"its spec says the in-place variant saves training memory, but it lowers the training "
                            f"peak by only {b(saving)}: {why}")
        elif claim is None:
            findings.append(f"the in-place variant cannot save training memory (training peak lower by "
                            f"{b(saving)}): {why}")
    elif claim is False:
        findings.append(f"the in-place variant lowers the training peak by {b(saving)} though its spec declares "
                        "inplace_saves_training_memory=False")
    if saves_training and held_saving < required:
        findings.append(f"the in-place saving is transient: the out-of-place form holds no more for the backward "
                        f"({b(oop[True].held_bytes or 0)} against {b(ip[True].held_bytes or 0)}); in place "
                        "avoids allocating the output")
    if no_grad_saving < required:
        findings.append(f"under torch.no_grad() the in-place variant lowers the peak by only {b(no_grad_saving)}: "
                        "its forward allocates temporaries as large as the output it avoids")
    if ip[True].step_peak_bytes > oop[True].step_peak_bytes:
        findings.append(f"with the backward, the in-place step peaks higher ({b(ip[True].step_peak_bytes)} against "
                        f"{b(oop[True].step_peak_bytes)} out of place): its backward allocates more")
    if saves_training:
        tail = f"; in place lowers the training peak by {saving / numel:.3g} B/element"
    else:
        tail = f"; in place cannot save training memory ({saving / numel:.3g} B/element)"
    return problems, tail + f", no_grad by {no_grad_saving / numel:.3g}"


def _why_not(keeps: list[str], saved: Saved, oop: StepMemory, ip: StepMemory, b: Any) -> str:
    """Why an in-place variant saves less than an input-sized tensor in training."""
    if keeps:
        return f"its backward keeps {', '.join(keeps)} besides its output, so it needs the input"
    parts = []
    if not any(s.role == "input" for s in saved.storages):
        parts.append(f"the out-of-place form does not keep its input for the backward either (it saves "
                     f"{saved.describe()})")
    if ip.peak_bytes > oop.peak_bytes - oop.input_bytes // 2:
        parts.append(f"the in-place forward allocates as much on the way ({b(ip.peak_bytes)} at its peak against "
                     f"{b(oop.peak_bytes)} out of place)")
    return " and ".join(parts) or (f"training peak {b(ip.peak_bytes)} against {b(oop.peak_bytes)} out of place")


def _cross_check(subject: Subject, shape: tuple[int, ...], dtype: torch.dtype, device: str,
                 details: dict[str, Any]) -> list[str]:
    """On CUDA: the accounting's savings next to the allocator's."""
    if not subject.has_inplace:
        return []
    findings = []
    in_bytes = details["input_bytes"]
    for grad, key in ((True, "saving_bytes"), (False, "no_grad_saving_bytes")):
        peaks = [measure_step(_fresh(subject, dtype, device, inplace), shape, grad=grad, dtype=dtype, device=device,
                              method="accounting").peak_bytes for inplace in (False, True)]
        predicted = peaks[0] - peaks[1]
        details[f"accounting_{key}"] = predicted
        if abs(predicted - details[key]) > tol.MEMORY_CUDA_AGREEMENT * in_bytes:
            findings.append(f"the accounting predicts a {'training' if grad else 'no_grad'} saving of {predicted} bytes, "
                            f"the CUDA allocator measured {details[key]}")
    return findings
