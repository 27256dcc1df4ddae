"""Benchmarks of the connector against Coveo's official Python client, run with `make bench`.

Everything runs on this machine: moto (AWS) and the Coveo emulator each in their own process, and
every measured scenario in a fresh worker process so its peak RSS is its own. See bench/README.md.
"""
