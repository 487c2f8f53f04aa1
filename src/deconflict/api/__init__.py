"""The HTTP edge of deconflict: the web API and the webhook deliveries it makes.

It may import every other layer; model, geo, engine and record never import it.
"""
