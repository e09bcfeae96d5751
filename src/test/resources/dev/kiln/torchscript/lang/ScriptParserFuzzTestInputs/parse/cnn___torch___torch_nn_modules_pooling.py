class MaxPool2d(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : NoneType
  dilation : Final[int] = 1
  kernel_size : Final[int] = 2
  padding : Final[int] = 0
  stride : Final[int] = 2
  return_indices : Final[bool] = False
  ceil_mode : Final[bool] = False
  def forward(self: __torch__.torch.nn.modules.pooling.MaxPool2d,
    input: Tensor) -> Tensor:
    _0 = __torch__.torch.nn.functional._max_pool2d
    _1 = _0(input, [2, 2], [2, 2], [0, 0], [1, 1], False, False, )
    return _1
class AvgPool2d(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : NoneType
  kernel_size : Final[int] = 2
  padding : Final[int] = 0
  count_include_pad : Final[bool] = True
  stride : Final[int] = 2
  ceil_mode : Final[bool] = False
  divisor_override : Final[NoneType] = None
  def forward(self: __torch__.torch.nn.modules.pooling.AvgPool2d,
    input: Tensor) -> Tensor:
    _2 = torch.avg_pool2d(input, [2, 2], [2, 2], [0, 0])
    return _2
class AdaptiveAvgPool2d(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : NoneType
  output_size : Final[int] = 1
  def forward(self: __torch__.torch.nn.modules.pooling.AdaptiveAvgPool2d,
    input: Tensor) -> Tensor:
    _3 = __torch__.torch.nn.functional.adaptive_avg_pool2d
    return _3(input, [1, 1], )
