"""jaxscaffold: start a JAX training project from a tested Copier template."""

__version__ = "0.6.0"
