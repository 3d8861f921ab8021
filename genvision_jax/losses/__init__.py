"""Losses shared across families; GAN objectives share one signature (see gan.py)."""
