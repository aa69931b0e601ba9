"""``lithops.version.__version__``: the installed version of lithops-core (``python -m lithops.version``)."""

from importlib import metadata

try:
    __version__ = metadata.version("lithops-core")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

if __name__ == "__main__":
    print(__version__)
