"""Spectrum-sharing tasks: interference-limited channel and power allocation among links that
share sub-bands with protected primary users (``spectrum/Interference-v1``).

``channel`` holds the radio model (geometry, path loss, shadowing, Gauss–Markov/Jakes fading,
thermal noise, SINR and Shannon rates); ``interference`` the PettingZoo env built on it.
"""
