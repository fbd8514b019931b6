"""sf.engine — what every step shares: settings, the MongoDB connection and the embedded
server, collections and indexes, batches (Admin), the Journal and the run lock, and the
Dask partitioning helpers. Nothing source-specific lives here."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sf")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"
