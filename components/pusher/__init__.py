"""TFX's Pusher with a push that a model server never sees half done (executor.py)."""
