"""llm-endpoint-monitor: exact TTFT, output speed and uptime for hosted LLM endpoints."""

__version__ = "0.1.0"
