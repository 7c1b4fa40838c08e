"""The agent's health-check catalog: NVIDIA, AMD, NIC and host checks behind one interface."""
