"""The simulated node: a /proc and /sys tree plus NVML and AMD SMI fakes built from a profile.

`tree` writes the files (and the GPU state file, `gpus.json`, that fault injection rewrites);
`nvml.SimNvml` and `amdsmi.SimAmdSmi` serve that GPU state through the same call surfaces as
pynvml and amdsmi, so the real probes run unchanged against it.
"""
