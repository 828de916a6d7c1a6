"""Reliability and security: faults, bad input and long runs lose nothing and leak nothing."""
