"""`stepline.projects.run`: run a component the way `mlflow.run` does, tracked by stepline.

>>> stepline.projects.run("components/get_data", "main", parameters={"sample": "sample1.csv"})
"""

from stepline.components.projects import SubmittedRun, run

__all__ = ["SubmittedRun", "run"]
