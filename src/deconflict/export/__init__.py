"""Domain objects to wire formats (JSON of SPEC section 3, later GeoJSON, KML, CoT).

Pure conversions: never reads files, never decides what a conflict is.
"""
