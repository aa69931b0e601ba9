"""The worker side: what runs the user's function, wherever the backend starts it."""
