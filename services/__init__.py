"""The domain: models, the tracker, the stores, events and settings."""
