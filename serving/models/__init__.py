from serving.models.deployments import Deployment
from serving.models.logs import DecisionRecord, PredictionLog
from serving.models.routes import Route
from serving.models.scopes import InferenceScope

__all__ = ["DecisionRecord", "Deployment", "InferenceScope", "PredictionLog", "Route"]
