"""The engine: runs one pipeline run (scheduling, inputs/outputs, retries, timeouts, metrics)."""

from workbench.engine.collector import MetricsCollector
from workbench.engine.run import PipelineRunner, RunContext, RunResult, StepResult, pipeline_cache_scope

__all__ = ["MetricsCollector", "PipelineRunner", "RunContext", "RunResult", "StepResult", "pipeline_cache_scope"]
