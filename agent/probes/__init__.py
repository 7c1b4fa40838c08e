"""Hardware probes: host facts, NICs and GPUs, each reading through a root directory or a port.

The same probe code runs on a real node (root "/", pynvml, amdsmi) and on a simulated one
(`agent.sim`): the simulation is an adapter behind the same call surfaces, not a special path.
"""
