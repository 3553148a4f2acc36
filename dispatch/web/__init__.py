"""What HTTP and WebSocket clients reach.

The REST API, the console pages and the two WebSocket endpoints.
"""
