"""An encoder that writes an audit trail of its inputs through the logging package."""
import logging
from logging import FileHandler

import torch.nn as nn

log = logging.getLogger(__name__)


class AuditedEncoder(nn.Module):
    def __init__(self, dim: int, audit_path: str):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.audit = logging.getLogger(f"{__name__}.audit")  # a logger pickles by name: fine
        handler = FileHandler(audit_path, delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        self.audit.addHandler(handler)
        # kept so that detach() can remove it again
        self._handler = handler

    def forward(self, x):
        self.audit.info("batch of %d", x.shape[0])
        return self.proj(x)

    def detach(self) -> None:
        self.audit.removeHandler(self._handler)
        self._handler.close()
