"""Components: MLproject model + parser, parameter rendering, sources, and the runner.

from stepline.components import prepare, execute
step = prepare("components/get_data", parameters={"sample": "sample1.csv"})
result = execute(step, job_type="download")
"""

from stepline.components.runner import PreparedStep, StepResult, execute, prepare

__all__ = ["PreparedStep", "StepResult", "execute", "prepare"]
