"""connector: a federated data-connector node speaking the Dataspace Protocol 2025-1."""

__version__ = "0.1.0"

import mimetypes as _mimetypes

from connector import log as _log  # noqa: F401  (installs the logger class before any logger exists)

# aiohttp's file responses make a MIME table when aiohttp.web is imported, which has the standard library read the
# host's mime.types files into its module-wide table too (about 0.4 MiB, and their reading): nothing here needs that
# table (every file the node serves names its type; data sources guess from Python's built-in table alone). Marked
# as made, it is made when something first asks the module for a guess; the tables of MimeTypes objects are the same.
_mimetypes.inited = True
