"""Test helpers shipped with Workbench (used by its test suite and benchmarks).

- :mod:`workbench.testing.k8s_server`: a Kubernetes-API-compatible server on 127.0.0.1 with a
  kubelet stand-in that runs pods as local processes, and fault injection.
- :mod:`workbench.testing.s3_server`: an S3-compatible server (moto) on 127.0.0.1 for
  object-store artifacts.
- :mod:`workbench.testing.processes`: the processes left working in a folder (orphan checks).
"""
