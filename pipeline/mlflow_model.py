"""The churn pyfunc as an MLflow 'model from code': MLflow stores this file with the model and runs it on load."""

import mlflow

from pipeline.tracking import ChurnPyfunc

mlflow.models.set_model(ChurnPyfunc())
