"""Channels: one package per platform, each turning platform traffic into tracker calls."""
