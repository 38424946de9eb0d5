"""Backend-specific helpers: the only per-backend code in `keras_hopfield`.

Modules:

* `keras_hopfield.backend.gradients`: `value_and_grad` differentiates a
  scalar function with respect to its input on TensorFlow, JAX or PyTorch
  (used by `keras_hopfield.attacks`); `is_concrete` tells eager values from
  symbolic or traced ones so that value-dependent input checks can be
  skipped while tracing.
* `keras_hopfield.backend.loops`: a fixed-trip, differentiable loop.
* `keras_hopfield.backend.kernels`: which fused or re-laid-out kernels pay
  off on the active backend (PyTorch's fused attention, short-axis softmax,
  the softmax-then-mix update of `ConvHNN2D`/`DeepHNN` as one autograd
  Function on torch).
* `keras_hopfield.backend.custom_gradient`: a function with a hand-written
  backward pass (`tf.custom_gradient`, `jax.custom_vjp`, a
  `torch.autograd.Function`), used by the chunked retrieval of
  `keras_hopfield.functional` to recompute block scores instead of storing
  them; `compile_on_jax` jit-compiles such a function once per shape on JAX.
* `keras_hopfield.backend.distribution`: what a layer or model needs to train
  correctly under `tf.distribute` (the global batch for gradient-free updates
  inside `call`, loss scaling, a clear error for what cannot be split); the
  identity on JAX's SPMD `keras.distribution` and on PyTorch.
* `keras_hopfield.backend.random`: per-sweep random numbers inside compiled
  loops (a seed drawn before the loop and per-sweep keys on JAX, the
  `SeedGenerator` itself elsewhere).
* `keras_hopfield.backend.export`: the `keras.Model.export` arguments a
  settling `while_loop` needs (no gradient through `jax2tf` on JAX).
* `keras_hopfield.backend.masks`: reading and setting a tensor's Keras mask
  (the one import of Keras's private mask helpers).

Nothing outside this package branches on `keras.backend.backend()` or imports
`keras.src` (tests/test_layer_contracts.py checks it).
"""

from keras_hopfield.backend.gradients import is_concrete, supports_gradients, value_and_grad

__all__ = ["value_and_grad", "is_concrete", "supports_gradients"]
