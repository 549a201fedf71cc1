"""Compute-domain tasks: ``compute/EdgeCluster-v1`` (edge-cluster job dispatch, SimPy)."""
