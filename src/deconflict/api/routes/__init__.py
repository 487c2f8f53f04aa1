"""The routes of API version 1, one module per resource."""
