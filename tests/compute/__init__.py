"""Tests of the compute-domain tasks."""
