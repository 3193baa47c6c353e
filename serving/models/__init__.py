from serving.models.deployments import Deployment

__all__ = ["Deployment"]
