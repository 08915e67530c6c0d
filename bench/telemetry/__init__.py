"""What is sampled beside the requests: memory, GPU (NVML), the client's own health, Prometheus, environment."""
