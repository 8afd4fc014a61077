"""Agent version reported in birth and health messages."""

from importlib.metadata import PackageNotFoundError, version

try:
    AGENT_VERSION = version("loaxa")
except PackageNotFoundError:  # running from a source tree without install
    AGENT_VERSION = "0+unknown"
