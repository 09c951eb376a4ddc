from .backbone import Backbone
from .classifier import Classifier

__all__ = ["Backbone", "Classifier"]
