"""The pyfunc as an MLflow 'model from code': MLflow stores this file with the model and runs it on load."""

import mlflow

from pipeline.tracking import SnapshotModelPyfunc

mlflow.models.set_model(SnapshotModelPyfunc())
