"""Offline annotation of grasp preferences on a stored image (``ddr annotate``)."""
