"""Continuous training: the `triggers:` section of a pipeline and the engine that runs it.

A pipeline file may say when it should re-run by itself and what to do with the model it makes:

    triggers:
      on:
        new_sample: {artifact: sample.csv}                  # a new version of sample.csv
        nightly: {schedule: "0 3 * * *"}                    # cron, 5 fields, UTC
        drifted: {drift: "random_forest_export:prod", threshold: 0.5}
      test: {step: test_regression_model, model_parameter: mlflow_model}
      promote: {model: random_forest_export, alias: prod, metric: mae, mode: min,
                min_improvement: 0.5}

`stepline watch` polls the triggers (`watch.Watcher`); each event runs the pipeline once
(`action.handle`), scores the candidate and the current `prod` on the same test data and moves
the alias when the policy says so (`promote`). Every event handled is a run of job type
`trigger` in the store (`record`), which is also how a restarted watch knows what it has done.
"""

from stepline.triggers.spec import Promote, TestStep, Trigger, Triggers, parse_triggers

__all__ = ["Promote", "TestStep", "Trigger", "Triggers", "parse_triggers"]
