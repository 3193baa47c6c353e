from governance.models.boards import BoardMember, Environment, ReviewBoard
from governance.models.keys import SigningKey
from governance.models.policies import ReleasePolicy, ReleasePolicyVersion
from governance.models.releases import Approval, GateEvaluation, Release

__all__ = [
    "Approval",
    "BoardMember",
    "Environment",
    "GateEvaluation",
    "Release",
    "ReleasePolicy",
    "ReleasePolicyVersion",
    "ReviewBoard",
    "SigningKey",
]
