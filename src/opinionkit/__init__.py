"""opinionkit: assemble a records packet for a cancer second opinion."""

__version__ = "0.1.0"
