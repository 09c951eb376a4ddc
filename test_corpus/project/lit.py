"""The training module: a LightningModule when Lightning is installed, a plain Module otherwise."""
import torch.nn.functional as F

try:
    import lightning.pytorch as pl

    LightningModule = pl.LightningModule
except ImportError:  # the loop in train() below only needs what nn.Module offers
    from torch.nn import Module as LightningModule

from .models import Classifier


class LitClassifier(LightningModule):
    def __init__(self, in_features: int = 8, classes: int = 3) -> None:
        super().__init__()
        self.model = Classifier(in_features, classes)
        self.register_buffer("ema_loss", None)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.model(x), y)
        ema = loss.detach() if self.ema_loss is None else 0.9 * self.ema_loss + 0.1 * loss.detach()
        self.ema_loss = ema
        return loss
