"""A local, Salesforce-compatible server (OAuth 2.0 web server flow + REST API subset).

Standalone: imports nothing from the product. See README.md in this package.
"""

__all__ = ["__version__"]
__version__ = "1.0.0"
