"""A lab's own restorer in its own module, registered in BasicSR's ARCH_REGISTRY only when this module is imported.

The comparison tests name it in ``custom_imports`` (BasicSR does not scan folders outside its own).
"""
from basicsr.utils.registry import ARCH_REGISTRY
from torch import Tensor, nn


@ARCH_REGISTRY.register()
class LabTwoConvNet(nn.Module):
    """Two 3 x 3 convolutions added to the input: the smallest residual restorer."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, 3, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)
