"""The run path: runner (a pipe), driver (stamps every time), load strategies, managed server, display."""
