class Attn(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : Optional[bool]
  mha : __torch__.torch.nn.modules.activation.MultiheadAttention
  def forward(self: __torch__.Attn,
    x: Tensor,
    pad: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
    mha = self.mha
    _0 = (mha).forward(x, x, x, pad, True, None, True, )
    out, w, = _0
    return (out, w)
