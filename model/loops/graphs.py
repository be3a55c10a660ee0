"""CUDA graphs around the Triton loops: a whole loop recorded once per layout and shape, then replayed.

A training step then launches two graphs instead of some thirty thousand small kernels. The inputs
are copied into the graph's own tensors before each replay and the outputs cloned after it, so a
caller may hold the results of several calls at once (a forward kept for a later backward, say).
The slope travels as a tensor inside the inputs: a graph would freeze a Python number.
"""
from __future__ import annotations

import logging

import torch

from model.loops import triton_kernels
from model.loops.contract import BackwardResult, ForwardBuffers, ForwardInputs, Layout, OutputGrads, StepWeights

log = logging.getLogger(__name__)


class GraphedLoop:
    """`fn(layout, *tensor_groups)` recorded per (layout, shapes) as a CUDA graph and replayed."""

    max_graphs = 4       # each holds its own buffers

    def __init__(self, fn):
        self.fn, self.graphs = fn, {}

    def __call__(self, layout: Layout, *groups):
        key = (layout, _signature(groups))
        entry = self.graphs.pop(key, None)
        if entry is None:
            if len(self.graphs) >= self.max_graphs:          # the least recently used goes
                self.graphs.pop(next(iter(self.graphs)))
            entry = self._record(layout, groups)
        self.graphs[key] = entry
        graph, static_in, static_out = entry
        for dst, src in zip(_tensors(static_in), _tensors(groups)):
            dst.copy_(src)
        graph.replay()
        return _clone(static_out)

    def _record(self, layout, groups):
        static_in = _clone(groups)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):                    # compiles the kernels outside the capture
            self.fn(layout, *static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_out = self.fn(layout, *static_in)
        log.info("recorded a CUDA graph for %s", self.fn.__qualname__)
        return graph, static_in, static_out


def _signature(a):
    if torch.is_tensor(a):
        return ("T", tuple(a.shape), a.dtype, a.device)
    if isinstance(a, (list, tuple)):
        return tuple(_signature(x) for x in a)
    return a


def _clone(a):
    if torch.is_tensor(a):
        return a.clone()
    if isinstance(a, tuple) and hasattr(a, "_fields"):   # a NamedTuple of the contract
        return type(a)(*(_clone(x) for x in a))
    if isinstance(a, (list, tuple)):
        return type(a)(_clone(x) for x in a)
    return a


def _tensors(a):
    if torch.is_tensor(a):
        yield a
    elif isinstance(a, (list, tuple)):
        for x in a:
            yield from _tensors(x)


_graphed_forward = GraphedLoop(triton_kernels.forward)
_graphed_backward = GraphedLoop(triton_kernels.backward)


def forward(layout: Layout, inputs: ForwardInputs, skip_copy: bool = False) -> ForwardBuffers:
    """Training forwards replay a graph; inference (skip_copy) runs directly, since its shapes follow
    whatever text comes in."""
    return triton_kernels.forward(layout, inputs) if skip_copy else _graphed_forward(layout, inputs)


def backward(layout: Layout, grads: OutputGrads, saved: ForwardBuffers, weights: StepWeights,
             slope: torch.Tensor) -> BackwardResult:
    return _graphed_backward(layout, grads, saved, weights, slope)
