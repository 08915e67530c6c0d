"""The client measured against an instant stub server."""
