"""The operator's web map: static files built from `web/` (esbuild) and shipped in the
package, served at `/` with a Content-Security-Policy that lets the page reach this
service alone (and the deployment's tile server, when one is configured)."""

from deconflict.web.serve import install

__all__ = ["install"]
