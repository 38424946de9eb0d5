"""Which fused kernels pay off on the active backend.

`keras.ops.dot_product_attention` maps to PyTorch's fused
`scaled_dot_product_attention` kernel on the torch backend, which is 2–4×
faster on CPU than the same math as separate `matmul`/`softmax` ops
(benchmarks/retrieval_speed.py). On TensorFlow and JAX it lowers to the same
XLA ops as the explicit path and measured slightly slower, so layers keep the
explicit path there. This is the one place that knows.

Softmax: PyTorch's CPU softmax over a *last* axis shorter than 16 takes a
scalar path, 10–15× slower than over any other axis of the same tensor
(measured with torch 2.x for lengths 4–15 vs ≥ 16; the Hopfield convolution's
`filters` logits, e.g. 9, hit it). On torch such a softmax is computed over
the same axis moved to the front (a view, no copy).

Softmax-then-mix (`softmax(l) @ A` over a short last axis, the Hopfield
update in logit space of `ConvHNN2D`/`DeepHNN`): on torch the `(N, K) @ (K, K)`
product with `K` < 16 runs ~5× slower than the same product laid out as
`(K, K) @ (K, N)`, and autograd adds copies of strided operands and fresh
temporaries. On torch the update (with an optional bias) therefore runs as
one `torch.autograd.Function`: on a channel-major `(K, N)` copy of the logits
for `K` < 16 (softmax over axis 0, `Aᵀ S`), row-major otherwise, with a
hand-written backward `∂l = S ⊙ (A g − Σ_k S ⊙ A g)`, `∂A = S gᵀ`, `∂b = Σ g`
that reuses its own buffers (the softmax runs in place on the channel-major
copy; on CPU the channel-major backward works in two per-thread scratch
buffers kept between calls, since fresh buffers cost page faults, and
returns the logits' gradient channels-last). For `K` ≥ 16 on the CPU
(float32/bfloat16, ≥ 16 positions per batch item) torch instead runs a
softmax and a oneDNN 1×1 convolution, about 2× faster than MKL's `mm` for
`(N, K) @ (K, K)`, with one `convolution_backward` call for all three
gradients. On TensorFlow, for `K` < 16, the update is written out on the
channel-major transpose with a `tf.custom_gradient` (the fused softmax over
a short innermost axis is the slow part in graph mode). On JAX it is a
`jax.custom_vjp` with the same closed-form backward (reverse mode only).
benchmarks/convhnn_speed.py measures the layer against `Conv2D`.
"""

import functools
import threading

import keras
from keras import ops

__all__ = ["prefers_fused_attention", "softmax", "softmax_mix", "integer_power"]


def prefers_fused_attention():
    """Whether `HopfieldRetrieval` should use `ops.dot_product_attention` for one-step softmax retrieval.

    Returns:
        `True` on the PyTorch backend, `False` otherwise.
    """
    return keras.backend.backend() == "torch"


# PyTorch's vectorised last-axis softmax needs at least this many entries.
_TORCH_SHORT_SOFTMAX = 16
# The torch `softmax_mix` backward keeps (per thread) two CPU scratch buffers
# of at most this size each between calls; bigger logits use fresh buffers.
_TORCH_SCRATCH_BYTES = 32 * 2**20


def integer_power(x, n):
    """`keras.ops.power(x, n)` for a Python int `n`.

    On JAX this is `lax.integer_pow(x, n)`, which is what `jnp.power` computes
    for a constant integer exponent (the same values), called directly:
    jax2onnx's replacement of `jnp.power` cannot handle a symbolic (dynamic)
    batch axis, so the ONNX export of a model using it failed.

    Args:
        x: Tensor.
        n: Python int exponent.

    Returns:
        `x ** n`, same shape and dtype as `x`.
    """
    n = int(n)
    if keras.backend.backend() == "jax":
        from jax import lax

        return lax.integer_pow(ops.convert_to_tensor(x), n)
    return ops.power(x, n)


def softmax(z, axis=-1):
    """`keras.ops.softmax(z, axis)`, avoiding PyTorch's slow path for short last axes.

    Args:
        z: Tensor of logits.
        axis: Axis to normalise over.

    Returns:
        The softmax of `z` along `axis` (same values on every backend).
    """
    rank = len(z.shape)
    last = axis in (-1, rank - 1)
    size = z.shape[-1] if rank else None
    if keras.backend.backend() == "torch" and last and rank > 1 and size is not None and size < _TORCH_SHORT_SOFTMAX:
        return ops.moveaxis(ops.softmax(ops.moveaxis(z, -1, 0), axis=0), 0, -1)
    return ops.softmax(z, axis=axis)


def softmax_mix(logits, mix, bias=None):
    """`softmax(logits, axis=-1) @ mix (+ bias)`, with PyTorch's fast layout for the last axis.

    Args:
        logits: `(..., K)` tensor.
        mix: `(K, K)` matrix, or anything broadcastable against `logits` for
            `matmul` (then the generic path is taken).
        bias: Optional `(K,)` vector added to the result.

    Returns:
        `(..., K)` tensor, the same values on every backend.
    """
    backend = keras.backend.backend()
    fusable = (
        len(logits.shape) >= 2
        and len(mix.shape) == 2
        and logits.dtype == mix.dtype
        and (bias is None or (len(bias.shape) == 1 and bias.dtype == mix.dtype))
    )
    if backend == "torch" and fusable and logits.dtype.is_floating_point and not _torch_graph_capture():
        k = logits.shape[-1]
        if k >= _TORCH_SHORT_SOFTMAX and _torch_pointwise_conv_pays(logits):
            return _torch_softmax_conv_mix()(logits, mix, bias)
        return _torch_softmax_mix()(logits, mix, bias, k < _TORCH_SHORT_SOFTMAX)
    if backend == "jax" and fusable:
        return _jax_softmax_mix()(logits, mix, bias)
    short = fusable and logits.shape[-1] is not None and logits.shape[-1] < _TF_SHORT_SOFTMAX
    if backend == "tensorflow" and short:
        return _tf_softmax_mix()(logits, mix, bias)
    out = ops.matmul(softmax(logits, axis=-1), mix)
    return out if bias is None else out + bias


def _torch_graph_capture():
    """Whether `torch.export` or the TorchScript tracer is recording a graph.

    The fused `torch.autograd.Function`s below work on raw storage (in-place
    buffers, `data_ptr`), which graph capture cannot trace: export takes the
    plain `softmax` + `matmul` path (the same values).
    """
    import torch  # only on the torch backend

    return bool(torch.compiler.is_exporting() or torch.jit.is_tracing())


def _torch_pointwise_conv_pays(logits):
    """Whether the torch update runs as a 1×1 convolution (CPU, float32/bfloat16, ≥ 16 positions per item)."""
    import torch  # only on the torch backend

    if logits.device.type != "cpu" or logits.dtype not in (torch.float32, torch.bfloat16) or logits.dim() < 3:
        return False
    positions = 1
    for n in logits.shape[1:-1]:
        positions *= n
    return positions >= _TORCH_MIN_CONV_POSITIONS


# oneDNN's 1×1 convolution splits its work over the batch and the spatial
# positions; with fewer positions per batch item than this (e.g. the `(B, C,
# K)` logits of a `DeepHNN` with few channels) the plain matrix product wins.
_TORCH_MIN_CONV_POSITIONS = 16


# Below this many logits TensorFlow's fused softmax (a reduction over a short
# innermost axis) is slower than the same softmax written out channel-major.
_TF_SHORT_SOFTMAX = 16


@functools.cache
def _jax_softmax_mix():
    """`softmax_mix` with a hand-written VJP on JAX (built once, lazily).

    The same values as the generic path; the backward is the closed form
    `∂l = S ⊙ (g Aᵀ − Σ_k S ⊙ g Aᵀ)`, `∂A = Sᵀ g`, `∂b = Σ g` on the saved
    softmax, which XLA compiles to fewer passes than autodiff's chain through
    max/exp/sum (ConvHNN2D forward+backward at 32 filters, 1 CPU core,
    median of 5 processes: 7.1 ms, against 11.0 ms with autodiff, whose time
    also varied between processes from 1.3× to 1.8× Conv2D's;
    benchmarks/convhnn_speed.py).
    """
    import jax  # only on the JAX backend
    import jax.numpy as jnp

    def forward(logits, mix, bias):
        s = jax.nn.softmax(logits, axis=-1)
        y = jnp.matmul(s, mix)
        return (y if bias is None else y + bias), s

    def backward(s, mix, grad):
        k = s.shape[-1]
        d = jnp.matmul(grad, mix.T)
        grad_logits = s * (d - jnp.sum(s * d, axis=-1, keepdims=True))
        flat_s, flat_g = s.reshape(-1, k), grad.reshape(-1, k)
        return grad_logits, flat_s.T @ flat_g, flat_g.sum(0)

    @jax.custom_vjp
    def with_bias(logits, mix, bias):
        return forward(logits, mix, bias)[0]

    def with_bias_fwd(logits, mix, bias):
        y, s = forward(logits, mix, bias)
        return y, (s, mix)

    with_bias.defvjp(with_bias_fwd, lambda res, g: backward(*res, g))

    @jax.custom_vjp
    def without_bias(logits, mix):
        return forward(logits, mix, None)[0]

    def without_bias_fwd(logits, mix):
        y, s = forward(logits, mix, None)
        return y, (s, mix)

    without_bias.defvjp(without_bias_fwd, lambda res, g: backward(*res, g)[:2])
    return lambda logits, mix, bias: without_bias(logits, mix) if bias is None else with_bias(logits, mix, bias)


@functools.cache
def _tf_softmax_mix():
    """The channel-major `softmax_mix` with a hand-written gradient on TensorFlow (built once, lazily)."""
    import tensorflow as tf  # only on the TensorFlow backend

    # On a `(K, N)` copy the max, exp and sum over the K logits are
    # reductions over the outer axis (vectorised over N), and `Aᵀ S` is one
    # `(K, K) @ (K, N)` product; `tf.nn.softmax` over a short innermost axis
    # and the broadcast `(..., K) @ (K, K)` batch matmul are several times
    # slower in graph mode (XLA fuses either form). The gradient reuses the
    # saved softmax instead of autodiff's chain through max/exp/sum.
    def forward(logits, mix, bias):
        shape, k = tf.shape(logits), logits.shape[-1]
        flat = tf.transpose(tf.reshape(logits, (-1, k)))
        e = tf.exp(flat - tf.reduce_max(flat, axis=0, keepdims=True))
        s = e / tf.reduce_sum(e, axis=0, keepdims=True)
        y = tf.matmul(mix, s, transpose_a=True)
        if bias is not None:
            y = y + bias[:, None]

        def backward(grad):
            g = tf.transpose(tf.reshape(grad, (-1, k)))
            d = tf.matmul(mix, g)
            grad_logits = s * (d - tf.reduce_sum(s * d, axis=0, keepdims=True))
            grads = [tf.reshape(tf.transpose(grad_logits), shape), tf.matmul(s, g, transpose_b=True)]
            return grads + ([] if bias is None else [tf.reduce_sum(g, axis=1)])

        return tf.reshape(tf.transpose(y), shape), backward

    with_bias = tf.custom_gradient(lambda logits, mix, bias: forward(logits, mix, bias))
    without_bias = tf.custom_gradient(lambda logits, mix: forward(logits, mix, None))
    return lambda logits, mix, bias: without_bias(logits, mix) if bias is None else with_bias(logits, mix, bias)


@functools.cache
def _torch_softmax_conv_mix():
    """`softmax(l) @ A (+ b)` on torch as a softmax and a 1×1 convolution (built once, lazily).

    For `K` ≥ 16 on the CPU, oneDNN's 1×1 convolution over a channels-last
    view of the logits runs the `(N, K) @ (K, K)` product about 2× faster
    than MKL's `mm` (0.28 vs 0.64 ms at `(32, 30, 30, 32)`, 1 thread), and its
    backward gives the input and weight (and bias) gradients in one call
    (0.74 vs 1.3 ms for the two `mm`s). The softmax backward is PyTorch's own
    fused kernel. Plain autograd through `conv2d` would take the same kernels
    only when the incoming gradient is channels-last contiguous (a `sum()`
    loss hands in a broadcast one, which sends oneDNN to a path ~3× slower),
    hence the Function, which makes the gradient contiguous first.
    """
    import torch  # only on the torch backend
    import torch.nn.functional as F

    def as_nchw(t):
        # `(B, ..., W, K)` contiguous → `(B, K, H', W)`, a channels-last view.
        k = t.shape[-1]
        width = t.shape[-2] if t.dim() > 3 else 1
        return t.reshape(t.shape[0], -1, width, k).permute(0, 3, 1, 2)

    conv_backward = torch.ops.aten.convolution_backward

    class SoftmaxConvMix(torch.autograd.Function):
        @staticmethod
        def forward(ctx, logits, mix, bias):
            k = logits.shape[-1]
            s = torch.softmax(logits, -1)
            weight = mix.t().reshape(k, k, 1, 1)  # out[o] = Σ_i s[i] A[i, o]
            y = F.conv2d(as_nchw(s), weight, bias)
            ctx.save_for_backward(s, weight)
            ctx.has_bias = bias is not None
            return y.permute(0, 2, 3, 1).reshape(logits.shape)

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, grad):
            s, weight = ctx.saved_tensors
            k = s.shape[-1]
            need_logits, need_mix, need_bias = ctx.needs_input_grad
            need_bias = need_bias and ctx.has_bias
            grad_s, grad_w, grad_bias = conv_backward(
                as_nchw(grad.contiguous()), as_nchw(s), weight, [k] if ctx.has_bias else None,
                [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [need_logits, need_mix, need_bias],
            )
            grad_logits = grad_mix = None
            if need_logits:
                grad_s = grad_s.permute(0, 2, 3, 1).reshape(s.shape)
                grad_logits = torch._softmax_backward_data(grad_s, s, s.dim() - 1, s.dtype)
            if need_mix:
                grad_mix = grad_w.reshape(k, k).t()
            return grad_logits, grad_mix, grad_bias if need_bias else None

    return SoftmaxConvMix.apply


@functools.cache
def _torch_softmax_mix():
    """The `torch.autograd.Function` behind `softmax_mix` on torch (built once, lazily)."""
    import torch  # only on the torch backend

    def to_2d(t, channel_major):
        k = t.shape[-1]
        return t.movedim(-1, 0).contiguous().view(k, -1) if channel_major else t.reshape(-1, k)

    def from_2d(t, shape, channel_major):
        return t.view(shape[-1], *shape[:-1]).movedim(0, -1) if channel_major else t.view(shape)

    # Works on a 2-D view: `(K, N)` channel-major for short K (softmax over
    # axis 0, `Aᵀ S`), else `(N, K)`. Fresh CPU buffers of this size cost page
    # faults in eager PyTorch, so the backward reuses its own buffers in place
    # instead of allocating autograd's temporaries, and on the channel-major
    # path it works in two per-thread scratch buffers that outlive the call
    # (`scratch`) and returns the logits' gradient already in their layout
    # (else the convolution's backward copies it). The bias, if any, is fused
    # into the product (`addmm`).
    local = threading.local()

    def scratch(slot, like):
        """A `like`-shaped buffer kept per thread and slot between calls, or a fresh one (off CPU, or too big)."""
        nbytes = like.numel() * like.element_size()
        if like.device.type != "cpu" or nbytes > _TORCH_SCRATCH_BYTES:
            return torch.empty_like(like)
        bufs = local.__dict__.setdefault("bufs", {})
        buf = bufs.get(slot)
        if buf is None or buf.numel() < like.numel() or buf.dtype != like.dtype:
            buf = bufs[slot] = torch.empty(like.numel(), dtype=like.dtype)
        return buf[: like.numel()].view(like.shape)

    class SoftmaxMix(torch.autograd.Function):
        @staticmethod
        def forward(ctx, logits, mix, bias, channel_major):
            flat = to_2d(logits, channel_major)
            if channel_major and flat.data_ptr() != logits.data_ptr():
                # Our own copy: softmax in place (one fresh buffer less).
                s = flat.sub_(flat.amax(0, keepdim=True)).exp_()
                s.div_(s.sum(0, keepdim=True))
            else:
                s = torch.softmax(flat, 0 if channel_major else 1)
            if channel_major:
                y = torch.mm(mix.t(), s) if bias is None else torch.addmm(bias[:, None], mix.t(), s)
            else:
                y = torch.mm(s, mix) if bias is None else torch.addmm(bias, s, mix)
            ctx.save_for_backward(s, mix)
            ctx.shape, ctx.channel_major = logits.shape, channel_major
            return from_2d(y, logits.shape, channel_major)

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, grad):
            s, mix = ctx.saved_tensors
            cm = ctx.channel_major
            if cm:  # g is overwritten below
                g = scratch(0, s)
                g.view(ctx.shape[-1], *ctx.shape[:-1]).copy_(grad.movedim(-1, 0))
            else:
                g = to_2d(grad, cm)
                if not g.is_contiguous() or g.data_ptr() == grad.data_ptr():
                    g = g.clone()
            grad_mix = grad_bias = grad_logits = None
            if ctx.needs_input_grad[1]:
                grad_mix = torch.mm(s, g.t()) if cm else torch.mm(s.t(), g)
            if ctx.needs_input_grad[2]:
                grad_bias = g.sum(1 if cm else 0)
            if ctx.needs_input_grad[0]:
                d = torch.mm(mix, g, out=scratch(1, s)) if cm else torch.mm(g, mix.t())
                sd = torch.mul(s, d, out=g).sum(0 if cm else 1, keepdim=True)
                grad_logits = from_2d(d.sub_(sd).mul_(s), ctx.shape, cm)
                if cm:  # out of the scratch buffer, into the logits' own layout
                    grad_logits = torch.empty(ctx.shape, dtype=s.dtype, device=s.device).copy_(grad_logits)
            return grad_logits, grad_mix, grad_bias, None

    return SoftmaxMix.apply
