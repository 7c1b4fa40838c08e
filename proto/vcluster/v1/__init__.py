"""Generated wire contract (package vcluster.v1)."""
